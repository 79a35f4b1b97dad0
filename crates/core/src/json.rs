//! JSON and text intake shared by every edge: objects whose names are unique (a token
//! header, a token request), and the one rule for what text a store can hold, applied to
//! every string and object key of a JSON body, form and query, so no field can forget it.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::Deserializer as _;
use serde_json::Value;

/// Why a text is not one JSON object with unique names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// A name appears twice; the value is the name.
    #[error("the name `{}` is repeated", crate::identity::clip(.0))]
    Duplicate(String),
    /// Not JSON, or not an object.
    #[error("not a JSON object")]
    NotAnObject,
}

/// Parses `bytes` as one JSON object whose names are unique, in order. `serde_json` keeps the
/// last of repeated names, which would let a second value hide behind the first one a proxy
/// or log saw.
pub fn unique_object(bytes: &[u8]) -> Result<Vec<(String, Value)>, ObjectError> {
    let mut duplicate = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = de.deserialize_map(UniqueNames {
        duplicate: &mut duplicate,
    });
    if let Some(name) = duplicate {
        return Err(ObjectError::Duplicate(name));
    }
    let fields = parsed.map_err(|_| ObjectError::NotAnObject)?;
    de.end().map_err(|_| ObjectError::NotAnObject)?;
    Ok(fields)
}

/// Collects an object's members, stopping at the first repeated name (kept in `duplicate`).
struct UniqueNames<'a> {
    duplicate: &'a mut Option<String>,
}

impl<'de> Visitor<'de> for UniqueNames<'_> {
    type Value = Vec<(String, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object without repeated names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields: Vec<(String, Value)> = Vec::new();
        while let Some((name, value)) = map.next_entry::<String, Value>()? {
            if fields.iter().any(|(seen, _)| *seen == name) {
                *self.duplicate = Some(name);
                return Err(serde::de::Error::custom("repeated name"));
            }
            fields.push((name, value));
        }
        Ok(fields)
    }
}

/// What a text the stores cannot hold is told.
pub const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// Whether `text` can be stored: PostgreSQL's text cannot hold U+0000. Other control
/// characters are storable, and tabs and line breaks are text (policies have lines); fields
/// that must not show them refuse them in their own parsing.
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// The path (`policy_schema`, `attributes.tags[1]`) of the first string or object key in
/// `value` that cannot be stored, or `None`. A key is reported by the path of its object
/// (a key at the top by the key itself, NUL shown escaped).
pub fn unstorable_field(value: &Value) -> Option<String> {
    let mut path = String::new();
    walk(value, &mut path)
}

fn walk(value: &Value, path: &mut String) -> Option<String> {
    match value {
        Value::String(text) if !storable(text) => Some(field_name(path)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = walk(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if !storable(key) {
                return Some(if path.is_empty() {
                    key.escape_debug().to_string()
                } else {
                    path.clone()
                });
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = walk(item, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

fn field_name(path: &str) -> String {
    if path.is_empty() {
        "body".to_owned()
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_keep_their_order_and_refuse_repeated_names() {
        let fields = unique_object(br#"{"b": 1, "a": {"x": 2}}"#).unwrap();
        assert_eq!(
            fields,
            vec![
                ("b".to_owned(), json!(1)),
                ("a".to_owned(), json!({"x": 2}))
            ]
        );
        assert_eq!(
            unique_object(br#"{"u": "a", "p": "x", "u": "b"}"#),
            Err(ObjectError::Duplicate("u".into()))
        );
        for bad in [&b"[1]"[..], b"\"s\"", b"{", b"{} {}", b""] {
            assert_eq!(unique_object(bad), Err(ObjectError::NotAnObject), "{bad:?}");
        }
    }

    #[test]
    fn nul_is_refused_and_other_text_kept() {
        assert!(!storable("a\0b"));
        assert!(storable("line one\r\n\tline two"));
        assert!(storable("\u{1}\u{7f}"));
    }

    #[test]
    fn the_path_names_the_field_holding_the_nul() {
        let cases = [
            (json!({"policy_schema": "x\u{0}"}), Some("policy_schema")),
            (json!({"a": {"tags": ["ok", "b\u{0}"]}}), Some("a.tags[1]")),
            (json!({"attributes": {"k\u{0}": 1}}), Some("attributes")),
            (json!({"k\u{0}": 1}), Some("k\\0")),
            (json!("\u{0}"), Some("body")),
            (json!([{"x": "\u{0}"}]), Some("[0].x")),
            (json!({"fine": ["\\u0000", "\n", 1, null]}), None),
        ];
        for (value, path) in cases {
            assert_eq!(unstorable_field(&value).as_deref(), path, "{value}");
        }
    }
}
