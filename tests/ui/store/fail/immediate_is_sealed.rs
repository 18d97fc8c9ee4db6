//! A store outside sessionkit cannot claim that it never waits: the layer
//! would then drop a pending future and run its operation a second time.
use std::time::Duration;

use sessionkit::store::{SessionStore, StoreFuture};

struct Claims;

impl SessionStore for Claims {
    fn load<'a>(&'a self, _: &'a str, _: Duration) -> StoreFuture<'a, Option<Vec<u8>>> {
        StoreFuture::ready(Ok(None))
    }
    fn save<'a>(&'a self, _: &'a str, _: &'a [u8], _: Duration) -> StoreFuture<'a, ()> {
        StoreFuture::ready(Ok(()))
    }
    fn delete<'a>(&'a self, _: &'a str) -> StoreFuture<'a, ()> {
        StoreFuture::ready(Ok(()))
    }
    fn immediate(&self) -> bool {
        true
    }
}

fn main() {}
