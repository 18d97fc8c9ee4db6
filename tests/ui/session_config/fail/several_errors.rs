use sessionkit::session_config;

session_config! {
    CART {
        cookiename: "cart",
        secure: "yes",
        samesite: "Lax",
        expiry: 0,
        prefix: "my cart:",
    }
    ADMIN { cookie_name: "__Host-admin" }
}

fn main() {}
