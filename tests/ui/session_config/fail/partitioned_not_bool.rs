use sessionkit::session_config;

session_config! {
    EMBED { partitioned: "true" }
}

fn main() {}
