use sessionkit::Session;

#[derive(Session)]
union Cart {
    items: u64,
    count: u32,
}

fn main() {}
