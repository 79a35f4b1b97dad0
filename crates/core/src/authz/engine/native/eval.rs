//! Evaluation of compiled statements over one request's facts. Every function answers
//! `Err(Stop)` where Cedar would raise an error or where the answer needs what only Cedar
//! holds; the caller then asks Cedar about the whole decision.

use std::cell::OnceCell;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::ids::PolicyId;

use super::super::query::Resource;
use super::{Expr, Op, Pattern, Scope, Statement, Uid, Var};

/// The native evaluator cannot decide this request exactly as Cedar would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop;

/// What a decision knows, read lazily: a statement that reads only `principal.id` and one
/// resource attribute never parses the user's stored attributes or lists their roles.
pub struct Facts<'a> {
    /// `User` or `Client`.
    pub principal_kind: &'static str,
    /// The user's id or the client's `client_id`.
    pub principal_id: &'a str,
    /// The user's email (users only).
    pub email: Option<&'a str>,
    /// The account the decision is made in.
    pub account: Option<&'a str>,
    /// The user's stored attributes, JSON text.
    pub stored: Option<&'a str>,
    /// The effective role names, computed on first use.
    pub roles: &'a dyn Fn() -> Vec<Arc<str>>,
    /// The action asked about.
    pub action: &'a str,
    /// The resource, with its attributes and parents.
    pub resource: &'a Resource,
    /// The caller's context.
    pub context: &'a Map<String, Value>,
    /// Whether Warden adds the requester's address as `context.ip` (an extension value).
    pub ip: bool,
    /// Seconds since the epoch (`context.time`).
    pub time: i64,
    pub(super) role_names: OnceCell<Vec<Arc<str>>>,
    pub(super) stored_parsed: OnceCell<Option<Map<String, Value>>>,
}

impl<'a> Facts<'a> {
    /// Facts for one decision, or `None` when the request holds what only Cedar evaluates
    /// faithfully: an extension value, a resource that is the principal, or a resource that is
    /// its own parent (Cedar refuses that cycle).
    #[expect(
        clippy::too_many_arguments,
        reason = "one field each, named at the call"
    )]
    pub fn new(
        principal_kind: &'static str,
        principal_id: &'a str,
        email: Option<&'a str>,
        account: Option<&'a str>,
        stored: Option<&'a str>,
        roles: &'a dyn Fn() -> Vec<Arc<str>>,
        action: &'a str,
        resource: &'a Resource,
        context: &'a Map<String, Value>,
        ip: bool,
        time: i64,
    ) -> Option<Self> {
        if resource.kind == principal_kind && resource.id == principal_id {
            return None;
        }
        if resource
            .parents
            .iter()
            .any(|p| p.kind == resource.kind && p.id == resource.id)
        {
            return None;
        }
        // An extension value converts lazily in Cedar and can fail there (a bad address):
        // leave any request or user that holds one to Cedar.
        if resource.attributes.values().any(has_extension)
            || context.values().any(has_extension)
            || stored.is_some_and(|text| text.contains("__extn"))
        {
            return None;
        }
        Some(Self {
            principal_kind,
            principal_id,
            email,
            account,
            stored,
            roles,
            action,
            resource,
            context,
            ip,
            time,
            role_names: OnceCell::new(),
            stored_parsed: OnceCell::new(),
        })
    }

    fn roles(&self) -> &[Arc<str>] {
        self.role_names.get_or_init(|| (self.roles)())
    }

    fn is_principal(&self, kind: &str, id: &str) -> bool {
        kind == self.principal_kind && id == self.principal_id
    }

    fn is_resource(&self, kind: &str, id: &str) -> bool {
        kind == self.resource.kind && id == self.resource.id
    }

    /// An attribute of the principal, in the Cedar path's order: Warden's own names, then the
    /// stored attributes (those Cedar cannot hold are left out, as there).
    fn principal_attr(&self, name: &str) -> Result<Option<V<'_>>, Stop> {
        match name {
            "id" => return Ok(Some(V::Str(self.principal_id))),
            "roles" => {
                return Ok(Some(V::Set(
                    self.roles().iter().map(|r| V::Str(r)).collect(),
                )))
            }
            "email" if self.email.is_some() => return Ok(self.email.map(V::Str)),
            "account" if self.account.is_some() => return Ok(self.account.map(V::Str)),
            _ => {}
        }
        let Some(text) = self.stored else {
            return Ok(None);
        };
        let parsed = self
            .stored_parsed
            .get_or_init(|| match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            });
        match parsed.as_ref().and_then(|map| map.get(name)).map(from_json) {
            None | Some(Err(Bad::Invalid)) => Ok(None),
            Some(Err(Bad::Stop)) => Err(Stop),
            Some(Ok(value)) => Ok(Some(value)),
        }
    }

    fn resource_attr(&self, name: &str) -> Result<Option<V<'_>>, Stop> {
        self.resource
            .attributes
            .get(name)
            .map(|value| from_json(value).map_err(|_| Stop))
            .transpose()
    }

    fn context_attr(&self, name: &str) -> Result<Option<V<'_>>, Stop> {
        match name {
            "time" => Ok(Some(V::Long(self.time))),
            "account" => Ok(self.account.map(V::Str)),
            "ip" if self.ip => Err(Stop),
            _ => self
                .context
                .get(name)
                .map(|value| from_json(value).map_err(|_| Stop))
                .transpose(),
        }
    }

    /// An attribute of an entity value: the principal's or the resource's; Cedar holds no
    /// other entity, so reading one is its error.
    fn entity_attr(&self, kind: &str, id: &str, name: &str) -> Result<Option<V<'_>>, Stop> {
        if self.is_principal(kind, id) {
            self.principal_attr(name)
        } else if self.is_resource(kind, id) {
            self.resource_attr(name)
        } else {
            Err(Stop)
        }
    }

    /// Whether entity `(kind, id)` is a descendant of `(of_kind, of_id)`: the principal's
    /// parents are its roles; the resource's are its parents, and through the principal (when
    /// it is one of them) the principal's roles; no other entity is held, so has none.
    fn descends(&self, kind: &str, id: &str, of_kind: &str, of_id: &str) -> bool {
        let role = |name: &str| of_kind == "Role" && self.roles().iter().any(|r| &**r == name);
        if self.is_principal(kind, id) {
            role(of_id)
        } else if self.is_resource(kind, id) {
            let parents = &self.resource.parents;
            parents.iter().any(|p| p.kind == of_kind && p.id == of_id)
                || (parents.iter().any(|p| self.is_principal(&p.kind, &p.id)) && role(of_id))
        } else {
            false
        }
    }
}

/// A Cedar value, borrowed from the statement or the request.
#[derive(Debug, Clone)]
enum V<'f> {
    Bool(bool),
    Long(i64),
    Str(&'f str),
    Entity(&'f str, &'f str),
    Set(Vec<V<'f>>),
    Record(Vec<(&'f str, V<'f>)>),
}

/// Why JSON did not convert: Cedar could not hold it (the Cedar path leaves such a stored
/// attribute out), or only Cedar can evaluate it.
enum Bad {
    Invalid,
    Stop,
}

fn has_extension(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(has_extension),
        Value::Object(map) => map.contains_key("__extn") || map.values().any(has_extension),
        _ => false,
    }
}

/// Request JSON as Cedar reads it (`values::to_cedar`'s rules).
fn from_json(value: &Value) -> Result<V<'_>, Bad> {
    Ok(match value {
        Value::Bool(b) => V::Bool(*b),
        Value::String(s) => V::Str(s),
        Value::Number(n) => V::Long(n.as_i64().ok_or(Bad::Invalid)?),
        Value::Array(items) => V::Set(items.iter().map(from_json).collect::<Result<_, _>>()?),
        Value::Object(map) if map.len() == 1 && map.contains_key("__extn") => {
            return Err(Bad::Stop)
        }
        Value::Object(map) if map.len() == 1 && map.contains_key("__entity") => {
            let entity = &map["__entity"];
            let kind = entity.get("type").and_then(Value::as_str);
            let id = entity.get("id").and_then(Value::as_str);
            match (kind, id) {
                (Some(kind), Some(id)) if super::super::values::is_cedar_type(kind) => {
                    V::Entity(kind, id)
                }
                _ => return Err(Bad::Invalid),
            }
        }
        Value::Object(map) => V::Record(
            map.iter()
                .map(|(k, v)| Ok((k.as_str(), from_json(v)?)))
                .collect::<Result<_, _>>()?,
        ),
        Value::Null => return Err(Bad::Invalid),
    })
}

fn equal(a: &V<'_>, b: &V<'_>) -> bool {
    match (a, b) {
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Long(x), V::Long(y)) => x == y,
        (V::Str(x), V::Str(y)) => x == y,
        (V::Entity(k, i), V::Entity(l, j)) => k == l && i == j,
        (V::Set(x), V::Set(y)) => {
            x.iter().all(|v| y.iter().any(|w| equal(v, w)))
                && y.iter().all(|w| x.iter().any(|v| equal(v, w)))
        }
        (V::Record(x), V::Record(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(l, _)| l == k)
                        .is_some_and(|(_, w)| equal(v, w))
                })
        }
        _ => false,
    }
}

fn boolean(value: V<'_>) -> Result<bool, Stop> {
    match value {
        V::Bool(b) => Ok(b),
        _ => Err(Stop),
    }
}

fn long(value: V<'_>) -> Result<i64, Stop> {
    match value {
        V::Long(n) => Ok(n),
        _ => Err(Stop),
    }
}

fn set(value: V<'_>) -> Result<Vec<V<'_>>, Stop> {
    match value {
        V::Set(items) => Ok(items),
        _ => Err(Stop),
    }
}

/// `left in right`: `right` an entity or a set of entities (anything else is Cedar's type
/// error, even beside a match).
fn within(facts: &Facts<'_>, left: &V<'_>, right: &V<'_>) -> Result<bool, Stop> {
    let V::Entity(kind, id) = left else {
        return Err(Stop);
    };
    let holds = |of: &V<'_>| match of {
        V::Entity(of_kind, of_id) => {
            Ok((kind == of_kind && id == of_id) || facts.descends(kind, id, of_kind, of_id))
        }
        _ => Err(Stop),
    };
    match right {
        V::Entity(..) => holds(right),
        V::Set(items) => {
            let answers = items.iter().map(holds).collect::<Result<Vec<_>, _>>()?;
            Ok(answers.into_iter().any(|a| a))
        }
        _ => Err(Stop),
    }
}

/// Cedar's `like`: `*` matches any run of characters.
fn like(text: &str, pattern: &[Pattern]) -> bool {
    let text: Vec<char> = text.chars().collect();
    // Greedy match with backtracking to the last `*`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Pattern::Char(c)) if text.get(t) == Some(c) => {
                t += 1;
                p += 1;
            }
            Some(Pattern::Any) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|part| *part == Pattern::Any)
}

#[cfg(test)]
pub(super) fn like_for_tests(text: &str, pattern: &[Pattern]) -> bool {
    like(text, pattern)
}

fn eval<'f>(expr: &'f Expr, facts: &'f Facts<'_>) -> Result<V<'f>, Stop> {
    Ok(match expr {
        Expr::Bool(b) => V::Bool(*b),
        Expr::Long(n) => V::Long(*n),
        Expr::Str(s) => V::Str(s),
        Expr::Entity(uid) => V::Entity(&uid.kind, &uid.id),
        Expr::Set(items) => V::Set(
            items
                .iter()
                .map(|item| eval(item, facts))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Record(fields) => V::Record(
            fields
                .iter()
                .map(|(k, v)| Ok((&**k, eval(v, facts)?)))
                .collect::<Result<_, Stop>>()?,
        ),
        Expr::Var(Var::Principal) => V::Entity(facts.principal_kind, facts.principal_id),
        Expr::Var(Var::Action) => V::Entity("Action", facts.action),
        Expr::Var(Var::Resource) => V::Entity(&facts.resource.kind, &facts.resource.id),
        Expr::Var(Var::Context) => return Err(Stop),
        Expr::Not(arg) => V::Bool(!boolean(eval(arg, facts)?)?),
        Expr::Neg(arg) => V::Long(long(eval(arg, facts)?)?.checked_neg().ok_or(Stop)?),
        Expr::Binary(Op::And, left, right) => {
            V::Bool(boolean(eval(left, facts)?)? && boolean(eval(right, facts)?)?)
        }
        Expr::Binary(Op::Or, left, right) => {
            V::Bool(boolean(eval(left, facts)?)? || boolean(eval(right, facts)?)?)
        }
        Expr::Binary(op, left, right) => {
            let (a, b) = (eval(left, facts)?, eval(right, facts)?);
            binary(facts, *op, a, b)?
        }
        Expr::IsEmpty(arg) => V::Bool(set(eval(arg, facts)?)?.is_empty()),
        // The context is a record only ever read by name here.
        Expr::Attr(left, name) if matches!(**left, Expr::Var(Var::Context)) => {
            facts.context_attr(name)?.ok_or(Stop)?
        }
        Expr::Attr(left, name) => attr(facts, eval(left, facts)?, name)?.ok_or(Stop)?,
        Expr::Has(left, path) => {
            let mut names = path.iter();
            let mut value = match (&**left, names.next()) {
                (Expr::Var(Var::Context), Some(first)) => match facts.context_attr(first)? {
                    Some(value) => value,
                    None => return Ok(V::Bool(false)),
                },
                (_, Some(first)) => match attr(facts, eval(left, facts)?, first)? {
                    Some(value) => value,
                    None => return Ok(V::Bool(false)),
                },
                (_, None) => return Err(Stop),
            };
            for name in names {
                if !matches!(value, V::Entity(..) | V::Record(_)) {
                    return Err(Stop);
                }
                match attr(facts, value, name)? {
                    Some(next) => value = next,
                    None => return Ok(V::Bool(false)),
                }
            }
            V::Bool(true)
        }
        Expr::Like(left, pattern) => match eval(left, facts)? {
            V::Str(text) => V::Bool(like(text, pattern)),
            _ => return Err(Stop),
        },
        Expr::Is(left, kind, within_expr) => {
            let value = eval(left, facts)?;
            let V::Entity(of_kind, _) = value else {
                return Err(Stop);
            };
            if of_kind != &**kind {
                return Ok(V::Bool(false));
            }
            match within_expr {
                None => V::Bool(true),
                Some(right) => V::Bool(within(facts, &value, &eval(right, facts)?)?),
            }
        }
        Expr::If(cond, then, otherwise) => {
            if boolean(eval(cond, facts)?)? {
                eval(then, facts)?
            } else {
                eval(otherwise, facts)?
            }
        }
    })
}

/// `value.name`: `Ok(None)` when the attribute is absent (an error for `.`, false for
/// `has`). Only records and held entities have attributes.
fn attr<'f>(facts: &'f Facts<'_>, value: V<'f>, name: &str) -> Result<Option<V<'f>>, Stop> {
    match value {
        V::Entity(kind, id) => facts.entity_attr(kind, id, name),
        V::Record(fields) => Ok(fields.into_iter().find(|(k, _)| *k == name).map(|(_, v)| v)),
        _ => Err(Stop),
    }
}

fn binary<'f>(facts: &Facts<'_>, op: Op, a: V<'f>, b: V<'f>) -> Result<V<'f>, Stop> {
    let compare = |a: V<'f>, b: V<'f>| Ok::<_, Stop>((long(a)?, long(b)?));
    let arithmetic = |a: V<'f>, b: V<'f>, f: fn(i64, i64) -> Option<i64>| {
        Ok::<_, Stop>(V::Long(f(long(a)?, long(b)?).ok_or(Stop)?))
    };
    Ok(match op {
        Op::Eq => V::Bool(equal(&a, &b)),
        Op::Ne => V::Bool(!equal(&a, &b)),
        Op::In => V::Bool(within(facts, &a, &b)?),
        Op::Lt => compare(a, b).map(|(x, y)| V::Bool(x < y))?,
        Op::Le => compare(a, b).map(|(x, y)| V::Bool(x <= y))?,
        Op::Gt => compare(a, b).map(|(x, y)| V::Bool(x > y))?,
        Op::Ge => compare(a, b).map(|(x, y)| V::Bool(x >= y))?,
        Op::Add => arithmetic(a, b, i64::checked_add)?,
        Op::Sub => arithmetic(a, b, i64::checked_sub)?,
        Op::Mul => arithmetic(a, b, i64::checked_mul)?,
        Op::Contains => V::Bool(set(a)?.iter().any(|item| equal(item, &b))),
        Op::ContainsAll => {
            let (a, b) = (set(a)?, set(b)?);
            V::Bool(b.iter().all(|w| a.iter().any(|v| equal(v, w))))
        }
        Op::ContainsAny => {
            let (a, b) = (set(a)?, set(b)?);
            V::Bool(b.iter().any(|w| a.iter().any(|v| equal(v, w))))
        }
        // Handled with short-circuit in `eval`.
        Op::And | Op::Or => return Err(Stop),
    })
}

fn scope_holds(facts: &Facts<'_>, scope: &Scope, entity: &V<'_>) -> bool {
    let V::Entity(kind, _) = entity else {
        return false;
    };
    let is_in = |uid: &Uid| within(facts, entity, &V::Entity(&uid.kind, &uid.id)).unwrap_or(false);
    match scope {
        Scope::Any => true,
        Scope::Eq(uid) => equal(entity, &V::Entity(&uid.kind, &uid.id)),
        Scope::In(uid) => is_in(uid),
        Scope::Is(of_kind, within_uid) => {
            *kind == &**of_kind && within_uid.as_ref().is_none_or(is_in)
        }
    }
}

fn satisfied(statement: &Statement, facts: &Facts<'_>) -> Result<bool, Stop> {
    let principal = V::Entity(facts.principal_kind, facts.principal_id);
    if !scope_holds(facts, &statement.principal, &principal) {
        return Ok(false);
    }
    if let Some(actions) = &statement.action {
        if !actions
            .iter()
            .any(|uid| &*uid.kind == "Action" && &*uid.id == facts.action)
        {
            return Ok(false);
        }
    }
    let resource = V::Entity(&facts.resource.kind, &facts.resource.id);
    if !scope_holds(facts, &statement.resource, &resource) {
        return Ok(false);
    }
    for (when, condition) in &statement.conditions {
        if boolean(eval(condition, facts)?)? != *when {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The statements' satisfied permits and forbids, or `Stop` when any needs Cedar.
pub fn evaluate<'s>(
    statements: impl IntoIterator<Item = &'s Statement>,
    facts: &Facts<'_>,
    permits: &mut Vec<PolicyId>,
    forbids: &mut Vec<PolicyId>,
) -> Result<(), Stop> {
    for statement in statements {
        if satisfied(statement, facts)? {
            let list = if statement.forbid {
                &mut *forbids
            } else {
                &mut *permits
            };
            if !list.contains(&statement.policy) {
                list.push(statement.policy);
            }
        }
    }
    Ok(())
}
