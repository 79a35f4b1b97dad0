//! Request input on its way into Cedar: validation (type names, entity ids, reserved types,
//! representable values) and the conversion of JSON attributes and context into Cedar values.

use std::str::FromStr;

use cedar_policy::{EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde_json::Value;

use super::query::{BadQuery, Query};

/// An entity uid from a parsed type and an id.
pub(super) fn uid(kind: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
}

/// Whether `name` is a Cedar entity type name: identifiers joined by `::`, none of them a word
/// Cedar reserves (`if`, `in`, `__cedar`, ...). The shape is checked here; Cedar's own parser
/// has the last word, once per name and thread, so every decision path refuses the same names.
fn is_type_name(name: &str) -> bool {
    let shaped = name.len() <= 256
        && name.split("::").all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    shaped && is_cedar_type(name)
}

/// Whether Cedar parses `name` as an entity type, remembered for up to 1,024 names a thread.
pub(super) fn is_cedar_type(name: &str) -> bool {
    thread_local! {
        static KNOWN: std::cell::RefCell<std::collections::HashMap<String, bool>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    KNOWN.with(|known| {
        if let Some(answer) = known.borrow().get(name) {
            return *answer;
        }
        let answer = EntityTypeName::from_str(name).is_ok();
        let mut known = known.borrow_mut();
        if known.len() < 1024 {
            known.insert(name.to_owned(), answer);
        }
        answer
    })
}

/// Checks a value converts to Cedar, without building it.
fn check_value(value: &Value, field: &str) -> Result<(), BadQuery> {
    match value {
        Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Number(n) if n.as_i64().is_some() => Ok(()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_value(item, &format!("{field}[{i}]"))),
        Value::Object(map) if map.len() == 1 && map.contains_key("__extn") => {
            let function = map["__extn"].get("fn").and_then(Value::as_str);
            match function {
                Some("ip" | "ipaddr" | "decimal" | "datetime") => Ok(()),
                _ => Err(BadQuery::new(
                    field,
                    "`__extn.fn` must be `ip`, `decimal` or `datetime`",
                )),
            }
        }
        Value::Object(map) if map.len() == 1 && map.contains_key("__entity") => {
            let entity = &map["__entity"];
            let typed = entity
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(is_type_name);
            if typed && entity.get("id").is_some_and(Value::is_string) {
                Ok(())
            } else {
                Err(BadQuery::new(
                    field,
                    "`__entity` needs a Cedar `type` and a string `id`",
                ))
            }
        }
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| check_value(v, &format!("{field}.{k}"))),
        Value::Number(_) => Err(BadQuery::new(
            field,
            "Cedar numbers are 64-bit integers; send a fraction as {\"__extn\": {\"fn\": \"decimal\", \"arg\": \"1.5\"}}",
        )),
        Value::Null => Err(BadQuery::new(
            field,
            "Cedar has no null; leave the attribute out instead",
        )),
    }
}

/// Whether `id` is an acceptable entity id: at most 1 KiB, no control characters.
fn is_entity_id(id: &str) -> bool {
    id.len() <= 1024 && !id.chars().any(char::is_control)
}

/// Entity types Warden defines itself: a request may not declare entities of these types, or
/// it could give `Role` or `Action` entities parents and so forge role membership.
const RESERVED_TYPES: [&str; 2] = ["Role", "Action"];

/// Refuses a query Cedar could not represent, or that would declare Warden's own entities.
pub(super) fn validate(query: &Query<'_>) -> Result<(), BadQuery> {
    if RESERVED_TYPES.contains(&query.resource.kind.as_str()) {
        return Err(BadQuery::new(
            "resource.type",
            "`Role` and `Action` are Warden's own entity types; name your resource type",
        ));
    }
    if !is_entity_id(&query.resource.id) {
        return Err(BadQuery::new(
            "resource.id",
            "at most 1024 bytes, without control characters",
        ));
    }
    for (i, parent) in query.resource.parents.iter().enumerate() {
        if RESERVED_TYPES.contains(&parent.kind.as_str()) || !is_entity_id(&parent.id) {
            return Err(BadQuery::new(
                format!("resource.parents[{i}]"),
                "a parent may not be a `Role` or an `Action`, and its id is at most 1024 bytes without control characters",
            ));
        }
    }
    if query.resource.parents.len() > 64 {
        return Err(BadQuery::new("resource.parents", "at most 64 parents"));
    }
    if !is_type_name(&query.resource.kind) {
        return Err(BadQuery::new(
            "resource.type",
            "use a Cedar type name: letters, digits and `_`, optionally with `::` namespaces",
        ));
    }
    for (i, parent) in query.resource.parents.iter().enumerate() {
        if !is_type_name(&parent.kind) {
            return Err(BadQuery::new(
                format!("resource.parents[{i}].type"),
                "use a Cedar type name",
            ));
        }
    }
    for (key, value) in &query.resource.attributes {
        check_value(value, &format!("resource.attributes.{key}"))?;
    }
    for (key, value) in query.context {
        check_value(value, &format!("context.{key}"))?;
    }
    Ok(())
}

/// Converts request JSON into a Cedar value: strings, booleans, integers, sets (arrays) and
/// records (objects); `{"__extn": {"fn": "ip"|"decimal"|"datetime", "arg": "…"}}` for
/// extension values and `{"__entity": {"type": …, "id": …}}` for entity references.
pub(super) fn to_cedar(value: &Value, field: &str) -> Result<RestrictedExpression, BadQuery> {
    Ok(match value {
        Value::Bool(b) => RestrictedExpression::new_bool(*b),
        Value::String(s) => RestrictedExpression::new_string(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(n) => RestrictedExpression::new_long(n),
            None => {
                return Err(BadQuery::new(
                    field,
                    "Cedar numbers are 64-bit integers; send a fraction as {\"__extn\": {\"fn\": \"decimal\", \"arg\": \"1.5\"}}",
                ))
            }
        },
        Value::Array(items) => RestrictedExpression::new_set(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_cedar(item, &format!("{field}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Value::Object(map) => {
            if let Some(extension) = map.get("__extn").filter(|_| map.len() == 1) {
                let function = extension.get("fn").and_then(Value::as_str);
                let arg = extension.get("arg").and_then(Value::as_str).unwrap_or("");
                return match function {
                    Some("ip" | "ipaddr") => Ok(RestrictedExpression::new_ip(arg)),
                    Some("decimal") => Ok(RestrictedExpression::new_decimal(arg)),
                    Some("datetime") => Ok(RestrictedExpression::new_datetime(arg)),
                    _ => Err(BadQuery::new(
                        field,
                        "`__extn.fn` must be `ip`, `decimal` or `datetime`",
                    )),
                };
            }
            if let Some(entity) = map.get("__entity").filter(|_| map.len() == 1) {
                let kind = entity
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(|t| EntityTypeName::from_str(t).ok());
                let id = entity.get("id").and_then(Value::as_str);
                return match (kind, id) {
                    (Some(kind), Some(id)) => {
                        Ok(RestrictedExpression::new_entity_uid(uid(&kind, id)))
                    }
                    _ => Err(BadQuery::new(
                        field,
                        "`__entity` needs a Cedar `type` and a string `id`",
                    )),
                };
            }
            RestrictedExpression::new_record(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), to_cedar(v, &format!("{field}.{k}"))?)))
                    .collect::<Result<Vec<_>, BadQuery>>()?,
            )
            .map_err(|err| BadQuery::new(field, err.to_string()))?
        }
        Value::Null => {
            return Err(BadQuery::new(
                field,
                "Cedar has no null; leave the attribute out instead",
            ))
        }
    })
}

/// Refuses a resource Cedar could not represent (its type, id, parents and attributes), as a
/// decision about it would: what the registry checks before it stores one.
pub fn validate_resource(resource: &super::query::Resource) -> Result<(), BadQuery> {
    validate(&Query {
        action: "",
        resource,
        context: &serde_json::Map::new(),
        ip: None,
        time: 0,
        principal_attributes: None,
    })
}
