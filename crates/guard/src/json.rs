//! JSON objects whose member names are unique: `serde_json` keeps the last of repeated names,
//! which would let a second `alg` or `aud` hide behind the first one a proxy or log saw.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::Deserializer as _;
use serde_json::{Map, Value};

/// Parses `bytes` as one JSON object with unique member names, or `None`.
pub(crate) fn unique_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let object = de.deserialize_map(UniqueNames).ok()?;
    de.end().ok()?;
    Some(object)
}

/// Collects an object's members, failing on the first repeated name.
struct UniqueNames;

impl<'de> Visitor<'de> for UniqueNames {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object without repeated names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = Map::new();
        while let Some((name, value)) = map.next_entry::<String, Value>()? {
            if object.contains_key(&name) {
                return Err(serde::de::Error::custom("repeated name"));
            }
            object.insert(name, value);
        }
        Ok(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_with_unique_names_parse() {
        assert!(unique_object(br#"{"alg":"ES256","kid":"k"}"#).is_some());
        assert!(unique_object(br#"{"alg":"ES256","alg":"none"}"#).is_none());
        assert!(unique_object(br#"["alg"]"#).is_none());
        assert!(unique_object(br#"{"a":1} {"b":2}"#).is_none());
        assert!(unique_object(b"not json").is_none());
    }
}
