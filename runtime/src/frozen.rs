//! Which session types cannot change behind a shared reference.
//!
//! A handler reads a session through `&T` (`Deref`) and changes it through
//! `&mut T` (`DerefMut`) or `Session`'s own `&mut self` methods. When `T`
//! has no interior mutability (no `Cell`, `RefCell`, `Mutex`, atomics, …),
//! a session that none of those touched holds exactly what was loaded, and
//! the layer need not encode it again to find that out. Whether `T` is such
//! a type is decided at compile time by `#[derive(Session)]`: every field's
//! type must implement `Frozen`, a trait this crate implements only for
//! types it knows hold no interior mutability. A field of any other type
//! (a struct of your own included) makes the session one that is always
//! encoded again, as before; nothing is ever skipped on a guess.
//!
//! The derive asks with a method call that resolves to
//! [`IsFrozen::frozen`] (`true`) when the field type implements `Frozen`
//! and to [`NotFrozen::frozen`] (`false`) otherwise: the receiver
//! `&&Probe<T>` matches `IsFrozen`'s impl for `&Probe<T>` first, and falls
//! back to `NotFrozen`'s impl for `Probe<T>` after one auto-dereference.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::marker::PhantomData;

/// A type whose value cannot change behind a shared reference, and whose
/// contents are all such types. Implemented here only; not for your types.
pub trait Frozen {}

macro_rules! frozen {
    ($($ty:ty),* $(,)?) => { $(impl Frozen for $ty {})* };
}

frozen!(
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    (),
    String,
    str,
    std::time::Duration,
    std::time::SystemTime,
    serde_json::Value,
    serde_json::Number,
    crate::SessionId,
);

impl<T: Frozen + ?Sized> Frozen for Box<T> {}
impl<T: Frozen> Frozen for Option<T> {}
impl<T: Frozen> Frozen for Vec<T> {}
impl<T: Frozen> Frozen for VecDeque<T> {}
impl<T: Frozen> Frozen for BTreeSet<T> {}
impl<T: Frozen> Frozen for HashSet<T> {}
impl<T: Frozen, const N: usize> Frozen for [T; N] {}
impl<K: Frozen, V: Frozen> Frozen for BTreeMap<K, V> {}
impl<K: Frozen, V: Frozen> Frozen for HashMap<K, V> {}
impl<K: Frozen, V: Frozen> Frozen for serde_json::Map<K, V> {}
impl<A: Frozen, B: Frozen> Frozen for (A, B) {}
impl<A: Frozen, B: Frozen, C: Frozen> Frozen for (A, B, C) {}
impl<A: Frozen, B: Frozen, C: Frozen, D: Frozen> Frozen for (A, B, C, D) {}

/// What the derive's question is asked about: the type `T`, never a value.
pub struct Probe<T: ?Sized>(PhantomData<T>);

impl<T: ?Sized> Probe<T> {
    /// The probe of `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

/// `true`, for a probe of a `Frozen` type.
pub trait IsFrozen {
    /// Whether the probed type is `Frozen`.
    fn frozen(&self) -> bool {
        true
    }
}

impl<T: Frozen + ?Sized> IsFrozen for &Probe<T> {}

/// `false`, for a probe of any other type.
pub trait NotFrozen {
    /// Whether the probed type is `Frozen`.
    fn frozen(&self) -> bool {
        false
    }
}

impl<T: ?Sized> NotFrozen for Probe<T> {}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Mutex};

    use super::{IsFrozen as _, NotFrozen as _, Probe};

    macro_rules! frozen {
        ($ty:ty) => {
            (&&Probe::<$ty>::new()).frozen()
        };
    }

    struct Own {
        _n: u64,
    }

    #[test]
    fn plain_data_is_frozen_and_interior_mutability_or_unknown_types_are_not() {
        assert!(frozen!(u64));
        assert!(frozen!(String));
        assert!(frozen!(Option<Vec<(String, i32)>>));
        assert!(frozen!(BTreeMap<String, serde_json::Value>));
        assert!(frozen!([u8; 16]));
        assert!(!frozen!(Cell<u64>));
        assert!(!frozen!(RefCell<String>));
        assert!(!frozen!(Mutex<u64>));
        assert!(!frozen!(AtomicU64));
        assert!(!frozen!(Vec<Cell<u8>>));
        assert!(!frozen!(Option<RefCell<u8>>));
        assert!(!frozen!(Arc<u64>));
        assert!(!frozen!(Own));
    }
}
