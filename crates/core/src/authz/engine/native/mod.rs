//! The compiled fast path (issue 14): Cedar statements written in the common subset —
//! equality, `in`, `contains`, `has`, `like`, `is`, comparison and arithmetic on longs, over
//! principal, resource and context attributes, joined by `&&`, `||`, `!` and `if` — are
//! compiled once, when the policy is loaded, into a tree evaluated over the request as it came
//! (its JSON and the snapshot's entries), without building Cedar entities.
//!
//! The native evaluator decides only what it can decide exactly as Cedar would. Anything else
//! — an error (a missing attribute, a type mismatch, an overflow), an extension value, an
//! entity it does not hold — makes it give up, and the whole decision goes to Cedar, so errors
//! keep Cedar's messages and a failing `forbid` still denies. Statements outside the subset are
//! never compiled and are always evaluated by Cedar. `tests/cedar_differential.rs` checks the
//! two agree over generated policies, entities and requests.

mod eval;

use std::sync::atomic::{AtomicU64, Ordering};

pub(super) use eval::{evaluate, Facts};

use serde_json::{Map, Value};

use crate::ids::PolicyId;

/// An entity uid, as Cedar prints its type and unescaped id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Uid {
    kind: Box<str>,
    id: Box<str>,
}

/// A principal or resource scope constraint.
#[derive(Debug, Clone)]
enum Scope {
    Any,
    Eq(Uid),
    In(Uid),
    Is(Box<str>, Option<Uid>),
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    In,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Add,
    Sub,
    Mul,
    Contains,
    ContainsAll,
    ContainsAny,
}

/// A part of a `like` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Char(char),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Principal,
    Action,
    Resource,
    Context,
}

/// An expression of the subset.
#[derive(Debug, Clone)]
enum Expr {
    Bool(bool),
    Long(i64),
    Str(Box<str>),
    Entity(Uid),
    Set(Vec<Expr>),
    Record(Vec<(Box<str>, Expr)>),
    Var(Var),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(Op, Box<Expr>, Box<Expr>),
    IsEmpty(Box<Expr>),
    Attr(Box<Expr>, Box<str>),
    Has(Box<Expr>, Vec<Box<str>>),
    Like(Box<Expr>, Vec<Pattern>),
    Is(Box<Expr>, Box<str>, Option<Box<Expr>>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// One Cedar statement, compiled.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The Warden policy it belongs to.
    policy: PolicyId,
    forbid: bool,
    principal: Scope,
    /// `None`: any action; else the actions named (`==` or `in`; action entities have no
    /// parents in Warden, so `in` is equality).
    action: Option<Vec<Uid>>,
    resource: Scope,
    /// `when` (true) and `unless` (false) clauses, in order.
    conditions: Vec<(bool, Expr)>,
}

impl Statement {
    /// Compiles `statement` of Warden policy `policy`, or `None` when it is outside the subset.
    pub fn compile(policy: PolicyId, statement: &cedar_policy::Policy) -> Option<Self> {
        let json = statement.to_json().ok()?;
        let object = json.as_object()?;
        let forbid = match object.get("effect")?.as_str()? {
            "permit" => false,
            "forbid" => true,
            _ => return None,
        };
        let conditions = match object.get("conditions") {
            None => Vec::new(),
            Some(Value::Array(clauses)) => clauses
                .iter()
                .map(|clause| {
                    let when = match clause.get("kind")?.as_str()? {
                        "when" => true,
                        "unless" => false,
                        _ => return None,
                    };
                    Some((when, expr(clause.get("body")?)?))
                })
                .collect::<Option<Vec<_>>>()?,
            Some(_) => return None,
        };
        Some(Self {
            policy,
            forbid,
            principal: scope(object.get("principal")?)?,
            action: action_scope(object.get("action")?)?,
            resource: scope(object.get("resource")?)?,
            conditions,
        })
    }

    /// The Warden policy the statement belongs to.
    pub fn policy(&self) -> PolicyId {
        self.policy
    }

    /// Whether it is a `forbid`.
    pub fn is_forbid(&self) -> bool {
        self.forbid
    }
}

/// An entity reference in either of the EST's spellings: `{"type", "id"}` or
/// `{"__entity": {"type", "id"}}`.
fn entity(value: &Value) -> Option<Uid> {
    let value = value.get("__entity").unwrap_or(value);
    let object = value.as_object()?;
    if object.len() != 2 {
        return None;
    }
    Some(Uid {
        kind: object.get("type")?.as_str()?.into(),
        id: object.get("id")?.as_str()?.into(),
    })
}

fn scope(value: &Value) -> Option<Scope> {
    let object = value.as_object()?;
    Some(match object.get("op")?.as_str()? {
        "All" | "all" => Scope::Any,
        "==" => Scope::Eq(entity(object.get("entity")?)?),
        "in" => Scope::In(entity(object.get("entity")?)?),
        "is" => Scope::Is(
            object.get("entity_type")?.as_str()?.into(),
            match object.get("in") {
                None => None,
                Some(within) => Some(entity(within.get("entity")?)?),
            },
        ),
        _ => return None,
    })
}

fn action_scope(value: &Value) -> Option<Option<Vec<Uid>>> {
    let object = value.as_object()?;
    Some(match object.get("op")?.as_str()? {
        "All" | "all" => None,
        "==" => Some(vec![entity(object.get("entity")?)?]),
        "in" => match (object.get("entity"), object.get("entities")) {
            (Some(one), None) => Some(vec![entity(one)?]),
            (None, Some(Value::Array(many))) => {
                Some(many.iter().map(entity).collect::<Option<Vec<_>>>()?)
            }
            _ => return None,
        },
        _ => return None,
    })
}

/// A literal value of the EST (`{"Value": …}`): Cedar's JSON value format without extensions.
fn literal(value: &Value) -> Option<Expr> {
    Some(match value {
        Value::Bool(b) => Expr::Bool(*b),
        Value::Number(n) => Expr::Long(n.as_i64()?),
        Value::String(s) => Expr::Str(s.as_str().into()),
        Value::Array(items) => Expr::Set(items.iter().map(literal).collect::<Option<_>>()?),
        Value::Object(map) if map.contains_key("__entity") => Expr::Entity(entity(value)?),
        Value::Object(map) if map.contains_key("__extn") || map.contains_key("__expr") => {
            return None
        }
        Value::Object(map) => Expr::Record(
            map.iter()
                .map(|(k, v)| Some((k.as_str().into(), literal(v)?)))
                .collect::<Option<_>>()?,
        ),
        Value::Null => return None,
    })
}

fn boxed(value: Option<&Value>) -> Option<Box<Expr>> {
    Some(Box::new(expr(value?)?))
}

fn binary(op: Op, body: &Map<String, Value>) -> Option<Expr> {
    Some(Expr::Binary(
        op,
        boxed(body.get("left"))?,
        boxed(body.get("right"))?,
    ))
}

/// Compiles one EST expression, or `None` outside the subset (extension calls, tags, slots).
fn expr(value: &Value) -> Option<Expr> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    let (key, body) = object.iter().next()?;
    if key == "Value" {
        return literal(body);
    }
    if key == "Var" {
        return Some(Expr::Var(match body.as_str()? {
            "principal" => Var::Principal,
            "action" => Var::Action,
            "resource" => Var::Resource,
            "context" => Var::Context,
            _ => return None,
        }));
    }
    if key == "Set" {
        return Some(Expr::Set(
            body.as_array()?.iter().map(expr).collect::<Option<_>>()?,
        ));
    }
    if key == "Record" {
        return Some(Expr::Record(
            body.as_object()?
                .iter()
                .map(|(k, v)| Some((k.as_str().into(), expr(v)?)))
                .collect::<Option<_>>()?,
        ));
    }
    let body = body.as_object()?;
    let op = match key.as_str() {
        "==" => Op::Eq,
        "!=" => Op::Ne,
        "in" => Op::In,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "&&" => Op::And,
        "||" => Op::Or,
        "+" => Op::Add,
        "-" => Op::Sub,
        "*" => Op::Mul,
        "contains" => Op::Contains,
        "containsAll" => Op::ContainsAll,
        "containsAny" => Op::ContainsAny,
        "!" => return Some(Expr::Not(boxed(body.get("arg"))?)),
        "neg" => return Some(Expr::Neg(boxed(body.get("arg"))?)),
        "isEmpty" => return Some(Expr::IsEmpty(boxed(body.get("arg"))?)),
        "." => {
            return Some(Expr::Attr(
                boxed(body.get("left"))?,
                body.get("attr")?.as_str()?.into(),
            ))
        }
        "has" => {
            let path = match body.get("attr")? {
                Value::String(one) => vec![one.as_str().into()],
                Value::Array(many) => many
                    .iter()
                    .map(|a| a.as_str().map(Into::into))
                    .collect::<Option<Vec<_>>>()?,
                _ => return None,
            };
            if path.is_empty() {
                return None;
            }
            return Some(Expr::Has(boxed(body.get("left"))?, path));
        }
        "like" => {
            let mut pattern = Vec::new();
            for part in body.get("pattern")?.as_array()? {
                match part {
                    Value::String(w) if w == "Wildcard" => pattern.push(Pattern::Any),
                    Value::Object(lit) if lit.len() == 1 => {
                        pattern.extend(lit.get("Literal")?.as_str()?.chars().map(Pattern::Char));
                    }
                    _ => return None,
                }
            }
            return Some(Expr::Like(boxed(body.get("left"))?, pattern));
        }
        "is" => {
            return Some(Expr::Is(
                boxed(body.get("left"))?,
                body.get("entity_type")?.as_str()?.into(),
                match body.get("in") {
                    None => None,
                    Some(within) => Some(Box::new(expr(within)?)),
                },
            ))
        }
        "if-then-else" => {
            return Some(Expr::If(
                boxed(body.get("if"))?,
                boxed(body.get("then"))?,
                boxed(body.get("else"))?,
            ))
        }
        _ => return None,
    };
    binary(op, body)
}

/// Decisions with policies to evaluate, by who evaluated them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathCounts {
    /// Decided by compiled statements alone.
    pub native: u64,
    /// Compiled statements, and Cedar for the statements outside the subset.
    pub mixed: u64,
    /// Given to Cedar whole: no statement compiled, or the native evaluator stopped.
    pub cedar: u64,
}

static NATIVE: AtomicU64 = AtomicU64::new(0);
static MIXED: AtomicU64 = AtomicU64::new(0);
static CEDAR: AtomicU64 = AtomicU64::new(0);

/// Counts one decision's path.
pub(super) fn count(path: Path) {
    let counter = match path {
        Path::Native => &NATIVE,
        Path::Mixed => &MIXED,
        Path::Cedar => &CEDAR,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// How a decision's policies were evaluated.
#[derive(Debug, Clone, Copy)]
pub(super) enum Path {
    Native,
    Mixed,
    Cedar,
}

/// The decisions of this process so far, by path (for metrics and tests).
pub fn path_counts() -> PathCounts {
    PathCounts {
        native: NATIVE.load(Ordering::Relaxed),
        mixed: MIXED.load(Ordering::Relaxed),
        cedar: CEDAR.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests;
