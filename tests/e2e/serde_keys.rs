//! Which keys a scenario file format accepts, read from its derived `Deserialize` impls:
//! shared by the outer-loop and the model-swarm key-documentation tests.

use std::collections::BTreeSet;

/// The field names a derived `Deserialize` struct asks for, captured by a deserializer
/// that records them and then fails.
pub fn fields_of<T: for<'de> serde::Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{Error as _, Visitor};
    struct Grab<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Grab<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("only structs"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(Self::Error::custom("fields captured"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    assert!(T::deserialize(Grab(&mut fields)).is_err());
    assert!(!fields.is_empty(), "no fields captured");
    fields
}

/// Dotted keys (`section.key`, or `key` at the top) of a file whose top-level fields
/// are `top` and whose sections have the fields in `tables`.
pub fn dotted_keys(top: &[&str], tables: &[(&str, &[&str])]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for top in top {
        match tables.iter().find(|(t, _)| t == top) {
            Some((t, fields)) => keys.extend(fields.iter().map(|f| format!("{t}.{f}"))),
            None => {
                keys.insert((*top).to_string());
            }
        }
    }
    keys
}
