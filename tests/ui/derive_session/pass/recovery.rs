use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sessionkit::{session_config, Session, SessionData};

session_config! {
    CART { cookie_name: "cart" }
}

mod migrations {
    pub fn upgrade(object: &mut serde_json::Map<String, serde_json::Value>) {
        object.remove("old");
    }
}

fn split(_: &mut Map<String, Value>) {}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(strict)]
struct Strict {
    n: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = CART, migrate = migrations::upgrade)]
struct Migrated {
    items: Vec<u64>,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(strict, migrate = split)]
#[session(config = CART)]
struct Both {
    items: Vec<u64>,
}

fn assert_session<T: SessionData>() {}

fn main() {
    assert_session::<Strict>();
    assert_session::<Migrated>();
    assert_session::<Both>();
}
