//! Encoding that refuses what decoding would not give back.
//!
//! serde_json writes a float that is not finite (`NaN`, an infinity) as
//! `null`, and writes values nested deeper than its decoder accepts. Either
//! way the stored session could not be read back as it was: the visitor
//! would silently lose it on the next request. [`Checked`] wraps a value so
//! that serializing it through any serializer fails instead, before anything
//! is stored.

use serde::ser::{
    self, Error as _, Serialize, SerializeMap, SerializeSeq, SerializeStruct,
    SerializeStructVariant, SerializeTuple, SerializeTupleStruct, SerializeTupleVariant,
    Serializer,
};

/// The deepest nesting of arrays and objects serde_json's decoder reads
/// (its recursion limit is 128: the 128th level is refused).
pub(crate) const MAX_DEPTH: usize = 127;

/// `value`, serialized with the checks: a float that is not finite or
/// nesting deeper than [`MAX_DEPTH`] is an error.
pub(crate) struct Checked<'a, T: ?Sized> {
    value: &'a T,
    /// Arrays and objects already open around `value`.
    depth: usize,
}

impl<'a, T: ?Sized> Checked<'a, T> {
    /// `value` at the top level.
    #[cfg(any(feature = "axum", test))]
    pub(crate) fn new(value: &'a T) -> Self {
        Checked { value, depth: 0 }
    }

    /// `value` inside `depth` arrays or objects.
    pub(crate) fn nested(value: &'a T, depth: usize) -> Self {
        Checked { value, depth }
    }
}

impl<T: Serialize + ?Sized> Serialize for Checked<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Check {
            inner: serializer,
            depth: self.depth,
        })
    }
}

/// A serializer that checks, then hands everything to `inner`.
struct Check<S> {
    inner: S,
    depth: usize,
}

impl<S: Serializer> Check<S> {
    /// The depth inside `levels` more containers, if the decoder reads it.
    fn open(&self, levels: usize) -> Result<usize, S::Error> {
        let depth = self.depth + levels;
        if depth > MAX_DEPTH {
            return Err(S::Error::custom(format_args!(
                "the data is nested more than {MAX_DEPTH} levels deep, more than can be read back"
            )));
        }
        Ok(depth)
    }

    fn wrap<'a, T: ?Sized>(&self, value: &'a T) -> Checked<'a, T> {
        Checked {
            value,
            depth: self.depth,
        }
    }
}

fn not_finite<E: ser::Error>(value: f64) -> E {
    E::custom(format_args!(
        "the float {value} is not finite: JSON has no way to store it"
    ))
}

/// An open array or object whose members are checked at `depth`.
struct Members<C> {
    inner: C,
    depth: usize,
}

impl<C> Members<C> {
    fn wrap<'a, T: ?Sized>(&self, value: &'a T) -> Checked<'a, T> {
        Checked {
            value,
            depth: self.depth,
        }
    }
}

impl<S: Serializer> Serializer for Check<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Members<S::SerializeSeq>;
    type SerializeTuple = Members<S::SerializeTuple>;
    type SerializeTupleStruct = Members<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Members<S::SerializeTupleVariant>;
    type SerializeMap = Members<S::SerializeMap>;
    type SerializeStruct = Members<S::SerializeStruct>;
    type SerializeStructVariant = Members<S::SerializeStructVariant>;

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u128(v)
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if !v.is_finite() {
            return Err(not_finite(f64::from(v)));
        }
        self.inner.serialize_f32(v)
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if !v.is_finite() {
            return Err(not_finite(v));
        }
        self.inner.serialize_f64(v)
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.inner.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        // JSON writes bytes as an array of numbers.
        self.open(1)?;
        self.inner.serialize_bytes(v)
    }
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let value = self.wrap(value);
        self.inner.serialize_some(&value)
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_struct(name)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let value = self.wrap(value);
        self.inner.serialize_newtype_struct(name, &value)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        // `{"variant": value}`: one object around the value.
        let value = Checked {
            value,
            depth: self.open(1)?,
        };
        self.inner
            .serialize_newtype_variant(name, index, variant, &value)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let depth = self.open(1)?;
        Ok(Members {
            inner: self.inner.serialize_seq(len)?,
            depth,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let depth = self.open(1)?;
        Ok(Members {
            inner: self.inner.serialize_tuple(len)?,
            depth,
        })
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let depth = self.open(1)?;
        Ok(Members {
            inner: self.inner.serialize_tuple_struct(name, len)?,
            depth,
        })
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        // `{"variant": [...]}`
        let depth = self.open(2)?;
        Ok(Members {
            inner: self
                .inner
                .serialize_tuple_variant(name, index, variant, len)?,
            depth,
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let depth = self.open(1)?;
        Ok(Members {
            inner: self.inner.serialize_map(len)?,
            depth,
        })
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let depth = self.open(1)?;
        Ok(Members {
            inner: self.inner.serialize_struct(name, len)?,
            depth,
        })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        // `{"variant": {...}}`
        let depth = self.open(2)?;
        Ok(Members {
            inner: self
                .inner
                .serialize_struct_variant(name, index, variant, len)?,
            depth,
        })
    }
    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

impl<C: SerializeSeq> SerializeSeq for Members<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_element(&value)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTuple> SerializeTuple for Members<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_element(&value)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleStruct> SerializeTupleStruct for Members<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_field(&value)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeTupleVariant> SerializeTupleVariant for Members<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_field(&value)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeMap> SerializeMap for Members<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        let key = self.wrap(key);
        self.inner.serialize_key(&key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_value(&value)
    }
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), C::Error> {
        let (key, value) = (self.wrap(key), self.wrap(value));
        self.inner.serialize_entry(&key, &value)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeStruct> SerializeStruct for Members<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_field(key, &value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: SerializeStructVariant> SerializeStructVariant for Members<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_field(key, &value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    fn encode<T: Serialize>(value: &T) -> serde_json::Result<String> {
        serde_json::to_string(&Checked::new(value))
    }

    fn nested(levels: usize) -> Value {
        (1..levels).fold(json!([]), |inner, _| json!([inner]))
    }

    #[test]
    fn floats_that_are_not_finite_are_refused() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(encode(&bad).is_err(), "{bad} encoded");
            assert!(encode(&vec![1.0, bad]).is_err());
            assert!(encode(&Some(bad)).is_err());
            let mut map = BTreeMap::new();
            map.insert("x", bad);
            assert!(encode(&map).is_err());
        }
        assert!(encode(&f32::NAN).is_err());
        assert_eq!(encode(&1.5f64).unwrap(), "1.5");
        assert_eq!(
            encode(&f64::MAX).unwrap(),
            serde_json::to_string(&f64::MAX).unwrap()
        );
    }

    #[test]
    fn nesting_is_refused_exactly_where_the_decoder_stops_reading() {
        let deepest = nested(MAX_DEPTH);
        let encoded = encode(&deepest).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&encoded).unwrap(), deepest);
        let too_deep = nested(MAX_DEPTH + 1);
        assert!(encode(&too_deep).is_err());
        // Unchecked, it encodes, and the decoder refuses it.
        let unchecked = serde_json::to_string(&too_deep).unwrap();
        assert!(serde_json::from_str::<Value>(&unchecked).is_err());
    }

    #[test]
    fn enum_variants_count_the_object_around_them() {
        #[derive(serde::Serialize)]
        enum E {
            Tuple(u8, Value),
            Struct { v: Value },
            Newtype(Value),
        }
        for (value, levels) in [
            (E::Tuple(0, nested(MAX_DEPTH - 2)), 2),
            (
                E::Struct {
                    v: nested(MAX_DEPTH - 2),
                },
                2,
            ),
            (E::Newtype(nested(MAX_DEPTH - 1)), 1),
        ] {
            let encoded = encode(&value).unwrap();
            assert!(serde_json::from_str::<Value>(&encoded).is_ok());
            // One level more in the payload is one too many.
            let deeper = match value {
                E::Tuple(_, v) => E::Tuple(0, json!([v])),
                E::Struct { v } => E::Struct { v: json!([v]) },
                E::Newtype(v) => E::Newtype(json!([v])),
            };
            let unchecked = serde_json::to_string(&deeper).unwrap();
            assert!(
                serde_json::from_str::<Value>(&unchecked).is_err(),
                "{levels}"
            );
            assert!(encode(&deeper).is_err());
        }
    }

    #[test]
    fn what_is_accepted_encodes_exactly_as_without_the_checks() {
        let value = json!({"a": [1, 2.5, "x", null, {"b": true}], "c": -7});
        assert_eq!(
            encode(&value).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
    }
}
