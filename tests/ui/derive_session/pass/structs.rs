use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, Session, SessionData};

session_config! {
    CART { cookie_name: "cart" }
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = CART)]
struct Cart {
    items: Vec<u64>,
}

#[derive(Session, Serialize, Deserialize, Default)]
struct Defaulted {
    visits: u32,
}

#[derive(Session, Serialize, Deserialize, Default)]
struct Empty {}

#[derive(Session, Serialize, Deserialize, Default)]
#[serde(bound(deserialize = ""))]
#[session(config = CART)]
struct Generic<T>
where
    T: Serialize + DeserializeOwned + Default + Send + 'static,
{
    value: T,
}

fn assert_session<T: SessionData>() {}

fn main() {
    assert_session::<Cart>();
    assert_session::<Defaulted>();
    assert_session::<Empty>();
    assert_session::<Generic<String>>();
}
