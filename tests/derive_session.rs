//! `#[derive(Session)]` tested by using the impls it generates.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sessionkit::{session_config, Session, SessionConfig, SessionData};

session_config! {
    CART { cookie_name: "cart", prefix: "cart:", expiry: 7 days }
}

mod configs {
    sessionkit::session_config! {
        pub ADMIN { cookie_name: "__Host-admin", secure: true, samesite: "strict" }
    }
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = CART)]
struct Cart {
    items: Vec<u64>,
}

#[derive(Session, Serialize, Deserialize, Default)]
struct Plain {
    visits: u32,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = configs::ADMIN)]
struct Admin {
    user: Option<String>,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = crate::CART)]
struct Empty {}

// A generic session declares the bounds that make it one; serde's own
// `T: Deserialize<'de>` bound is dropped as `DeserializeOwned` covers it.
#[derive(Session, Serialize, Deserialize, Default)]
#[serde(bound(deserialize = ""))]
#[session(config = CART)]
struct Tagged<T: Serialize + DeserializeOwned + Default + Send + 'static> {
    value: T,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session()]
struct EmptyAttribute {
    n: u8,
}

struct Holder;
impl Holder {
    const CONFIG: SessionConfig = SessionConfig::DEFAULT;
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = Holder::CONFIG)]
struct AssociatedConst {
    n: u8,
}

fn config_of<T: SessionData>() -> SessionConfig {
    T::CONFIG
}

#[test]
fn config_path_is_used() {
    assert_eq!(Cart::CONFIG.cookie_name(), "cart");
    assert_eq!(<Cart as SessionData>::CONFIG.prefix(), "cart:");
    assert_eq!(config_of::<Cart>().expiry_secs(), 7 * 24 * 60 * 60);
}

#[test]
fn omitted_config_is_the_default() {
    let c = config_of::<Plain>();
    assert_eq!(c.cookie_name(), "session");
    assert_eq!(c.prefix(), "session:");
    assert_eq!(c.expiry_secs(), 2_592_000);
    assert_eq!(config_of::<EmptyAttribute>().cookie_name(), "session");
}

#[test]
fn paths_with_modules_crate_and_associated_consts() {
    assert_eq!(config_of::<Admin>().cookie_name(), "__Host-admin");
    assert!(config_of::<Admin>().secure());
    assert_eq!(config_of::<Empty>().cookie_name(), "cart");
    assert_eq!(config_of::<AssociatedConst>().cookie_name(), "session");
}

#[test]
fn generic_struct() {
    assert_eq!(config_of::<Tagged<u64>>().cookie_name(), "cart");
    assert_eq!(config_of::<Tagged<String>>().prefix(), "cart:");
}

#[test]
fn the_session_is_a_json_object() {
    let cart = Cart { items: vec![1, 2] };
    assert_eq!(serde_json::to_string(&cart).unwrap(), r#"{"items":[1,2]}"#);
    assert_eq!(serde_json::to_string(&Empty::default()).unwrap(), "{}");
    let _ = Plain::default().visits;
    let _ = Admin::default().user;
    let _ = Tagged::<u8>::default().value;
    let _ = EmptyAttribute::default().n;
    let _ = AssociatedConst::default().n;
}

#[derive(Session, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Renamed {
    user_name: String,
    #[serde(rename = "n", alias = "count", alias = "visits")]
    visit_count: u64,
    #[serde(rename(deserialize = "in"))]
    r#type: u8,
    #[serde(skip)]
    cache: u8,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(strict)]
struct WholeOrNothing {
    n: u64,
}

fn upgrade(object: &mut serde_json::Map<String, serde_json::Value>) {
    object.remove("old");
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(config = CART, migrate = upgrade, strict)]
struct MigratedOnly {
    n: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(migrate = crate::upgrade)]
struct MigratedAndRebuilt {
    n: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
struct Flattened {
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// `(field, serialize, deserialize)` of each field the rebuild reads.
fn keys<T: SessionData>() -> Option<Vec<(&'static str, &'static str, Vec<&'static str>)>> {
    T::__recovery().fields.map(|fields| {
        fields
            .iter()
            .map(|f| (f.field, f.serialize, f.deserialize.to_vec()))
            .collect()
    })
}

#[test]
fn the_rebuild_reads_the_keys_serde_reads() {
    assert_eq!(
        keys::<Renamed>().unwrap(),
        [
            ("user_name", "userName", vec!["userName"]),
            ("visit_count", "n", vec!["n", "count", "visits"]),
            ("type", "type", vec!["in"]),
        ]
    );
    assert_eq!(keys::<Cart>().unwrap(), [("items", "items", vec!["items"])]);
    assert!(Cart::__recovery().migrate.is_none());
}

#[test]
fn strict_and_keys_that_are_not_the_fields_own_are_whole_or_nothing() {
    assert!(keys::<WholeOrNothing>().is_none());
    assert!(WholeOrNothing::__recovery().migrate.is_none());
    assert!(keys::<Flattened>().is_none());
    let _ = Flattened::default().rest;
    let _ = WholeOrNothing::default().n;
    let _ = Renamed::default().cache;
}

#[test]
fn migrate_names_the_function() {
    let recovery = MigratedOnly::__recovery();
    assert!(recovery.fields.is_none());
    let mut object = serde_json::Map::new();
    object.insert("old".into(), 1.into());
    (recovery.migrate.unwrap())(&mut object);
    assert!(object.is_empty());
    let recovery = MigratedAndRebuilt::__recovery();
    assert!(recovery.migrate.is_some() && recovery.fields.is_some());
    let _ = (MigratedOnly::default().n, MigratedAndRebuilt::default().n);
}
