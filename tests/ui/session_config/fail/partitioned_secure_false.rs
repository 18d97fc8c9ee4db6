use sessionkit::session_config;

session_config! {
    EMBED { partitioned: true, secure: false }
}

fn main() {}
