use sessionkit::session_config;

session_config! {
    EMBED { cookie_name: "__Host-embed", partitioned: true }
}

fn main() {}
