use serde::{Deserialize, Serialize};
use sessionkit::Session;
use sessionkit::SessionData;

#[derive(Session, Serialize, Deserialize, Default)]
#[session(cookie_name = "cart")]
struct Cart {
    items: Vec<u64>,
}

// The attribute is wrong, but the impl is still there (with the default
// config), so its uses add no "trait not implemented" errors.
fn config_name<T: SessionData>() -> &'static str {
    "config"
}

fn main() {
    let _ = config_name::<Cart>();
}
