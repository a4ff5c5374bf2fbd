//! Reads the few top-level fields the gateway needs (the model, the image count) from a
//! JSON body in one pass, skipping everything else without building a document tree.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// The fields to look for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Wanted<'w> {
    /// The field naming the model, if the route reads it from the body.
    pub(crate) model: Option<&'w str>,
    /// The field holding the number of images, if any.
    pub(crate) images: Option<&'w str>,
    /// Whether to read `max_tokens` / `max_completion_tokens` / `max_output_tokens` (the
    /// Responses API's), for a token reservation.
    pub(crate) max_tokens: bool,
}

/// What a body said about them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Found {
    /// The model field's value, if present.
    pub(crate) model: Option<Field<String>>,
    /// The image count, if present.
    pub(crate) images: Option<Field<u64>>,
    /// The completion tokens asked for, if present and a count.
    pub(crate) max_tokens: Option<u64>,
}

/// A field that was present: its value, or the fact that it had the wrong type (which
/// only matters if the gateway needs it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Field<T> {
    /// The value.
    Value(T),
    /// Present with a value of another type.
    WrongType,
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct JsonError(String);

/// Scans `body` (a JSON object) for the `wanted` fields.
pub(crate) fn scan(body: &[u8], wanted: Wanted<'_>) -> Result<Found, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = wanted
        .deserialize(&mut de)
        .map_err(|e| JsonError(e.to_string()))?;
    de.end().map_err(|e| JsonError(e.to_string()))?;
    Ok(found)
}

/// Which wanted field a key names.
enum Which {
    Model,
    Images,
    MaxTokens,
    Other,
}

struct KeySeed<'w>(Wanted<'w>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Which;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Which, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Which;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Which, E> {
        Ok(if self.0.model == Some(key) {
            Which::Model
        } else if self.0.images == Some(key) {
            Which::Images
        } else if self.0.max_tokens
            && matches!(
                key,
                "max_tokens" | "max_completion_tokens" | "max_output_tokens"
            )
        {
            Which::MaxTokens
        } else {
            Which::Other
        })
    }
}

/// A model name: a string, or anything else marked as the wrong type.
struct ModelValue;

impl<'de> DeserializeSeed<'de> for ModelValue {
    type Value = Field<String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ModelValue {
    type Value = Field<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a model name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Value(v.to_owned()))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::WrongType)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::WrongType)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Field::WrongType)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::WrongType)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::WrongType)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::WrongType)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::WrongType)
    }
}

/// An image count: a non-negative integer (a float with no fraction is accepted, since
/// some clients send `2.0`), or anything else marked as the wrong type.
struct CountValue;

impl<'de> DeserializeSeed<'de> for CountValue {
    type Value = Field<u64>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CountValue {
    type Value = Field<u64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a count")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Value(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Field::WrongType, Field::Value))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(whole_count(v))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Field::WrongType)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::WrongType)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::WrongType)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::WrongType)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::WrongType)
    }
}

/// A count written as a float: accepted when it has no fraction and fits exactly.
pub(crate) fn whole_count(v: f64) -> Field<u64> {
    let whole = v.fract() == 0.0 && (0.0..=9.0e15).contains(&v);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    if whole {
        Field::Value(v as u64)
    } else {
        Field::WrongType
    }
}

impl<'de> DeserializeSeed<'de> for Wanted<'_> {
    type Value = Found;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Wanted<'_> {
    type Value = Found;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut found = Found::default();
        while let Some(which) = map.next_key_seed(KeySeed(self))? {
            match which {
                Which::Model => found.model = Some(map.next_value_seed(ModelValue)?),
                Which::Images => found.images = Some(map.next_value_seed(CountValue)?),
                Which::MaxTokens => {
                    if let Field::Value(n) = map.next_value_seed(CountValue)? {
                        found.max_tokens = Some(n);
                    }
                }
                Which::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Wanted<'static> = Wanted {
        model: Some("model"),
        images: Some("n"),
        max_tokens: true,
    };

    #[test]
    fn finds_fields_and_skips_the_rest() {
        let body = br#"{"prompt":"a \"cat\"","nested":{"model":"no"},"model":"flux","n":3}"#;
        let found = scan(body, BOTH).unwrap();
        assert_eq!(found.model, Some(Field::Value("flux".into())));
        assert_eq!(found.images, Some(Field::Value(3)));
        assert_eq!(found.max_tokens, None);
        let tokens = scan(br#"{"max_completion_tokens":64,"x":1}"#, BOTH).unwrap();
        assert_eq!(tokens.max_tokens, Some(64));
        let responses = scan(br#"{"input":"hi","max_output_tokens":32}"#, BOTH).unwrap();
        assert_eq!(responses.max_tokens, Some(32));
        let escaped = scan(br#"{"mod\u0065l":"x"}"#, BOTH).unwrap();
        assert_eq!(escaped.model, Some(Field::Value("x".into())));
    }

    #[test]
    fn wrong_types_and_absent_fields() {
        let found = scan(br#"{"model":7,"n":-1}"#, BOTH).unwrap();
        assert_eq!(found.model, Some(Field::WrongType));
        assert_eq!(found.images, Some(Field::WrongType));
        let found = scan(br#"{"n":2.0}"#, BOTH).unwrap();
        assert_eq!(found.model, None);
        assert_eq!(found.images, Some(Field::Value(2)));
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for bad in [&b"{"[..], b"[1]", b"\"x\"", b"{} {}", b"", b"{\"model\":}"] {
            assert!(
                scan(bad, BOTH).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_scan_without_panicking(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = scan(&body, BOTH);
        }

        #[test]
        fn the_model_is_found_among_any_other_fields(
            other in proptest::collection::hash_map("[a-z_]{1,8}", "[ -~]{0,12}", 0..8),
            model in "[ -~]{0,16}",
        ) {
            let mut object: serde_json::Map<String, serde_json::Value> = other
                .into_iter()
                .filter(|(k, _)| !matches!(k.as_str(), "model" | "n" | "max_tokens" | "max_completion_tokens"))
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            object.insert("model".into(), serde_json::Value::String(model.clone()));
            let body = serde_json::Value::Object(object).to_string();
            let found = scan(body.as_bytes(), BOTH).unwrap();
            proptest::prop_assert_eq!(found.model, Some(Field::Value(model)));
            proptest::prop_assert_eq!(found.images, None);
        }
    }
}
