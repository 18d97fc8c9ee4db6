use sessionkit::session_config;

session_config! {
    CART { prefix: "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp", hash_ids: true }
}

fn main() {}
