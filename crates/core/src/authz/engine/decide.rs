//! One decision: resolve the principal, ask its roles, ask the policies that can apply, and
//! combine the answers by DESIGN §5's rule, in one exhaustive match.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{
    Context, Entities, Entity, EntityTypeName, EntityUid, Request, RestrictedExpression,
};
use serde::Serialize;
use serde_json::Value;

use crate::ids::{AccountId, PolicyId, RoleId};
use crate::sync::lock;

use super::native::{self, Facts};
use super::policy::{evaluate, Bucket, Verdict};
use super::query::{BadQuery, Query};
use super::snapshot::{Principal, Resolved, Snapshot, Subject, UserEntry};
use super::values::{to_cedar, uid, validate};

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

/// Why a decision went the way it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reason {
    /// A role the principal holds grants the action.
    Role {
        /// The role's name.
        role: String,
        /// The role's id.
        role_id: RoleId,
        /// Where the role is held; `null` globally.
        account_id: Option<AccountId>,
    },
    /// A satisfied (or, for `forbid`, failing) policy decided.
    Policy {
        /// The policy's id.
        policy_id: PolicyId,
        /// `permit` or `forbid`.
        effect: &'static str,
        /// Whether it decided by failing to evaluate (a `forbid` fails closed).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        failed: bool,
    },
    /// The principal cannot act at all.
    Principal {
        /// `principal_unknown`, `principal_disabled`, `session_ended` or `account_inactive`.
        code: &'static str,
    },
}

/// A policy that failed to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyFault {
    /// The policy.
    pub policy_id: PolicyId,
    /// What went wrong.
    pub message: String,
}

/// A decision with its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// `allow` or `deny`.
    pub decision: Effect,
    /// What decided.
    pub reasons: Vec<Reason>,
    /// Policies that failed to evaluate.
    pub errors: Vec<PolicyFault>,
}

/// How the forbid policies came out.
enum Forbids {
    /// None applies.
    None,
    /// Some are satisfied or failed (fail closed).
    Deny(Vec<Reason>),
}

impl Snapshot {
    /// Decides whether `principal` may do `query`.
    pub fn decide(&self, principal: &Principal, query: &Query<'_>) -> Result<Decision, BadQuery> {
        // The same input is refused whether or not a policy would have read it.
        validate(query)?;
        let resolved = match self.resolve(principal) {
            Ok(resolved) => resolved,
            Err(inactive) => {
                return Ok(Decision::deny(
                    vec![Reason::Principal {
                        code: inactive.code(),
                    }],
                    Vec::new(),
                ))
            }
        };
        // An action name (`read`) on a resource of type `record` is also `record:read`.
        let typed =
            crate::authz::permission::Permission::on_kind(query.action, &query.resource.kind);
        let role_grants: Vec<Reason> = resolved
            .held
            .iter()
            .filter(|held| {
                held.role.grants.allows(query.action)
                    || typed.as_deref().is_some_and(|t| held.role.grants.allows(t))
            })
            .map(|held| Reason::Role {
                role: held.role.name.to_string(),
                role_id: held.role.id,
                account_id: held.account,
            })
            .collect();
        let sets = self
            .policies
            .candidates(principal.account.as_ref(), query.action);
        let mut verdict = if sets.is_empty() {
            Verdict::default()
        } else {
            self.verdict(&sets, principal, &resolved, query)?
        };
        // Cedar reports in no fixed order; a decision lists its reasons by policy id.
        verdict.forbids.sort_unstable();
        verdict.failed_forbids.sort_unstable();
        verdict.permits.sort_unstable();
        verdict.errors.sort();
        let errors: Vec<PolicyFault> = verdict
            .errors
            .iter()
            .map(|(policy_id, message)| PolicyFault {
                policy_id: *policy_id,
                message: message.clone(),
            })
            .collect();
        let forbids = if verdict.forbids.is_empty() && verdict.failed_forbids.is_empty() {
            Forbids::None
        } else {
            let satisfied = verdict.forbids.iter().map(|id| (id, false));
            let failed = verdict.failed_forbids.iter().map(|id| (id, true));
            Forbids::Deny(
                satisfied
                    .chain(failed)
                    .map(|(id, failed)| Reason::Policy {
                        policy_id: *id,
                        effect: "forbid",
                        failed,
                    })
                    .collect(),
            )
        };
        // Permit policies never grant Warden's own permissions: an account administrator
        // who may write policies must not be able to write themselves new powers.
        let own = query.action.starts_with("warden.");
        let permits: Vec<Reason> = verdict
            .permits
            .iter()
            .filter(|_| !own)
            .map(|id| Reason::Policy {
                policy_id: *id,
                effect: "permit",
                failed: false,
            })
            .collect();
        // DESIGN §5, in order: a satisfied or failing forbid denies; a role grant allows; a
        // satisfied permit allows; otherwise deny.
        Ok(
            match (forbids, role_grants.is_empty(), permits.is_empty()) {
                (Forbids::Deny(reasons), _, _) => Decision::deny(reasons, errors),
                (Forbids::None, false, _) => Decision::allow(role_grants, errors),
                (Forbids::None, true, false) => Decision::allow(permits, errors),
                (Forbids::None, true, true) => Decision::deny(Vec::new(), errors),
            },
        )
    }

    /// What the candidate statements say: the compiled ones natively and the rest through
    /// Cedar, or, when the native evaluator cannot decide exactly as Cedar would, all of them
    /// through Cedar.
    fn verdict(
        &self,
        sets: &[&Bucket],
        principal: &Principal,
        resolved: &Resolved<'_>,
        query: &Query<'_>,
    ) -> Result<Verdict, BadQuery> {
        if let Some(mut verdict) = self.native_verdict(sets, principal, resolved, query) {
            let interpreted: Vec<&cedar_policy::PolicySet> =
                sets.iter().filter_map(|b| b.interpreted.as_ref()).collect();
            native::count(if interpreted.is_empty() {
                native::Path::Native
            } else {
                native::Path::Mixed
            });
            if !interpreted.is_empty() {
                let (request, entities) = self.cedar_request(principal, resolved, query)?;
                let rest = evaluate(interpreted, &request, &entities);
                for id in rest.permits {
                    push_unique(&mut verdict.permits, id);
                }
                for id in rest.forbids {
                    push_unique(&mut verdict.forbids, id);
                }
                verdict.failed_forbids = rest.failed_forbids;
                verdict.errors = rest.errors;
            }
            return Ok(verdict);
        }
        native::count(native::Path::Cedar);
        let (request, entities) = self.cedar_request(principal, resolved, query)?;
        Ok(evaluate(sets.iter().map(|b| &b.all), &request, &entities))
    }

    /// The compiled statements' verdict, or `None` when Cedar must decide.
    fn native_verdict(
        &self,
        sets: &[&Bucket],
        principal: &Principal,
        resolved: &Resolved<'_>,
        query: &Query<'_>,
    ) -> Option<Verdict> {
        if query.principal_attributes.is_some() || sets.iter().all(|b| b.native.is_empty()) {
            return None;
        }
        let user_id;
        let (kind, id, user) = match &principal.subject {
            Subject::User(id) => {
                user_id = id.to_string();
                ("User", user_id.as_str(), resolved.user)
            }
            Subject::Client(client_id) => ("Client", client_id.as_str(), None),
        };
        let account = principal.account.map(|a| a.to_string());
        let roles = || resolved.role_names(&self.roles);
        let facts = Facts::new(
            kind,
            id,
            user.map(UserEntry::email),
            account.as_deref(),
            user.and_then(UserEntry::attributes),
            &roles,
            query.action,
            query.resource,
            query.context,
            query.ip.is_some(),
            query.time,
        )?;
        let mut verdict = Verdict::default();
        native::evaluate(
            sets.iter().flat_map(|b| b.native.iter().map(|s| &**s)),
            &facts,
            &mut verdict.permits,
            &mut verdict.forbids,
        )
        .ok()?;
        Some(verdict)
    }

    /// The Cedar request and entities for one decision.
    fn cedar_request(
        &self,
        principal: &Principal,
        resolved: &Resolved<'_>,
        query: &Query<'_>,
    ) -> Result<(Request, Entities), BadQuery> {
        let principal_entity = match &principal.subject {
            // Attributes the asker adds make this principal's entity one of a kind: not cached.
            _ if query.principal_attributes.is_some() => {
                self.principal_entity(principal, resolved, query.principal_attributes)?
            }
            Subject::User(id) => match self.users.get(id) {
                Some(user) => PRINCIPALS.get_or_build(principal, user, &self.roles, || {
                    self.principal_entity(principal, resolved, None)
                })?,
                None => self.principal_entity(principal, resolved, None)?,
            },
            Subject::Client(_) => self.principal_entity(principal, resolved, None)?,
        };
        let principal_uid = principal_entity.uid();
        self.finish_request(principal, principal_entity, principal_uid, query)
    }

    /// The principal's Cedar entity: its attributes and its roles as parents. `extra`
    /// attributes (the asker's) come first, so the user's stored attributes and Warden's own
    /// (`id`, `email`, `account`, `roles`) overwrite any of the same name.
    fn principal_entity(
        &self,
        principal: &Principal,
        resolved: &Resolved<'_>,
        extra: Option<&serde_json::Map<String, Value>>,
    ) -> Result<Entity, BadQuery> {
        let names = TypeNames::get();
        let role_names = resolved.role_names(&self.roles);
        let parents: HashSet<EntityUid> = role_names
            .iter()
            .map(|name| uid(&names.role, name))
            .collect();
        let mut attrs = HashMap::new();
        // Warden's own names are never the asker's to set, even where Warden sets none (a
        // client has no `email`, a global principal no `account`).
        let own = |key: &str| matches!(key, "id" | "email" | "account" | "roles");
        for (key, value) in extra.into_iter().flatten().filter(|(key, _)| !own(key)) {
            attrs.insert(
                key.clone(),
                to_cedar(value, &format!("subject.properties.{key}"))?,
            );
        }
        let principal_uid = match &principal.subject {
            Subject::User(id) => {
                let uid = uid(&names.user, &id.to_string());
                if let Some(text) = resolved.user.and_then(UserEntry::attributes) {
                    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
                        for (key, value) in &map {
                            // Attributes Cedar cannot hold (null, fractions) are left out.
                            if let Ok(value) = to_cedar(value, "attributes") {
                                attrs.insert(key.clone(), value);
                            }
                        }
                    }
                }
                if let Some(user) = resolved.user {
                    attrs.insert(
                        "email".into(),
                        RestrictedExpression::new_string(user.email().to_owned()),
                    );
                }
                attrs.insert(
                    "id".into(),
                    RestrictedExpression::new_string(id.to_string()),
                );
                uid
            }
            Subject::Client(client_id) => {
                attrs.insert(
                    "id".into(),
                    RestrictedExpression::new_string(client_id.clone()),
                );
                uid(&names.client, client_id)
            }
        };
        if let Some(account) = &principal.account {
            attrs.insert(
                "account".into(),
                RestrictedExpression::new_string(account.to_string()),
            );
        }
        attrs.insert(
            "roles".into(),
            RestrictedExpression::new_set(
                role_names
                    .iter()
                    .map(|name| RestrictedExpression::new_string(name.to_string())),
            ),
        );
        Entity::new(principal_uid, attrs, parents)
            .map_err(|err| BadQuery::new("principal", err.to_string()))
    }

    /// The resource entity, the context and the request around a principal entity.
    fn finish_request(
        &self,
        principal: &Principal,
        principal_entity: Entity,
        principal_uid: EntityUid,
        query: &Query<'_>,
    ) -> Result<(Request, Entities), BadQuery> {
        let names = TypeNames::get();
        let resource_type = EntityTypeName::from_str(&query.resource.kind).map_err(|_| {
            BadQuery::new(
                "resource.type",
                "use a Cedar type name: letters, digits and `_`, optionally with `::` namespaces",
            )
        })?;
        let resource_uid = uid(&resource_type, &query.resource.id);
        let mut resource_attrs = HashMap::new();
        for (key, value) in &query.resource.attributes {
            resource_attrs.insert(
                key.clone(),
                to_cedar(value, &format!("resource.attributes.{key}"))?,
            );
        }
        let mut resource_parents = HashSet::new();
        for (i, parent) in query.resource.parents.iter().enumerate() {
            let kind = EntityTypeName::from_str(&parent.kind).map_err(|_| {
                BadQuery::new(
                    format!("resource.parents[{i}].type"),
                    "use a Cedar type name",
                )
            })?;
            resource_parents.insert(uid(&kind, &parent.id));
        }
        let mut entities = vec![principal_entity];
        if resource_uid != principal_uid {
            entities.push(
                Entity::new(resource_uid.clone(), resource_attrs, resource_parents)
                    .map_err(|err| BadQuery::new("resource", err.to_string()))?,
            );
        }
        let entities = Entities::from_entities(entities, None)
            .map_err(|err| BadQuery::new("resource", err.to_string()))?;

        let mut context: Vec<(String, RestrictedExpression)> = Vec::new();
        for (key, value) in query.context {
            if matches!(key.as_str(), "time" | "account") || (key == "ip" && query.ip.is_some()) {
                continue;
            }
            context.push((key.clone(), to_cedar(value, &format!("context.{key}"))?));
        }
        if let Some(ip) = query.ip {
            context.push(("ip".into(), RestrictedExpression::new_ip(ip.to_string())));
        }
        context.push(("time".into(), RestrictedExpression::new_long(query.time)));
        if let Some(account) = &principal.account {
            context.push((
                "account".into(),
                RestrictedExpression::new_string(account.to_string()),
            ));
        }
        let context = Context::from_pairs(context)
            .map_err(|err| BadQuery::new("context", err.to_string()))?;
        let action = uid(&names.action, query.action);
        let request = Request::new(principal_uid, action, resource_uid, context, None)
            .map_err(|err| BadQuery::new("resource", err.to_string()))?;
        Ok((request, entities))
    }
}

impl Decision {
    fn allow(reasons: Vec<Reason>, errors: Vec<PolicyFault>) -> Self {
        Self {
            allowed: true,
            decision: Effect::Allow,
            reasons,
            errors,
        }
    }

    fn deny(reasons: Vec<Reason>, errors: Vec<PolicyFault>) -> Self {
        Self {
            allowed: false,
            decision: Effect::Deny,
            reasons,
            errors,
        }
    }
}

fn push_unique(list: &mut Vec<PolicyId>, id: PolicyId) {
    if !list.contains(&id) {
        list.push(id);
    }
}

/// Principal entities already built, reused while the user's entry and the role index they were
/// built from are unchanged. Entries hold those `Arc`s, so an identity check is sound (a
/// freed entry's address cannot come back while the cache holds it). Bounded: a full shard is
/// emptied.
struct PrincipalCache {
    shards: Vec<std::sync::Mutex<HashMap<PrincipalKey, CachedPrincipal>>>,
}

type PrincipalKey = (crate::ids::UserId, Option<AccountId>, Option<Vec<String>>);

struct CachedPrincipal {
    user: UserEntry,
    roles: std::sync::Arc<super::snapshot::RoleIndex>,
    entity: Entity,
}

const PRINCIPAL_SHARDS: usize = 16;
const PRINCIPALS_PER_SHARD: usize = 1024;

static PRINCIPALS: std::sync::LazyLock<PrincipalCache> =
    std::sync::LazyLock::new(|| PrincipalCache {
        shards: (0..PRINCIPAL_SHARDS)
            .map(|_| std::sync::Mutex::new(HashMap::new()))
            .collect(),
    });

impl PrincipalCache {
    fn get_or_build(
        &self,
        principal: &Principal,
        user: &UserEntry,
        roles: &std::sync::Arc<super::snapshot::RoleIndex>,
        build: impl FnOnce() -> Result<Entity, BadQuery>,
    ) -> Result<Entity, BadQuery> {
        let Subject::User(id) = &principal.subject else {
            return build();
        };
        let key: PrincipalKey = (*id, principal.account, principal.scoped_to.clone());
        let shard = &self.shards[id.shard() % PRINCIPAL_SHARDS];
        if let Some(hit) = lock(shard).get(&key) {
            if hit.user.same(user) && std::sync::Arc::ptr_eq(&hit.roles, roles) {
                return Ok(hit.entity.clone());
            }
        }
        let entity = build()?;
        let mut map = lock(shard);
        if map.len() >= PRINCIPALS_PER_SHARD {
            map.clear();
        }
        map.insert(
            key,
            CachedPrincipal {
                user: user.clone(),
                roles: roles.clone(),
                entity: entity.clone(),
            },
        );
        Ok(entity)
    }
}

/// The entity type names Warden itself uses, parsed once.
struct TypeNames {
    user: EntityTypeName,
    client: EntityTypeName,
    role: EntityTypeName,
    action: EntityTypeName,
}

impl TypeNames {
    fn get() -> &'static Self {
        static NAMES: OnceLock<TypeNames> = OnceLock::new();
        NAMES.get_or_init(|| {
            let parse = |name: &str| {
                EntityTypeName::from_str(name).unwrap_or_else(|_| unreachable!("{name} is valid"))
            };
            Self {
                user: parse("User"),
                client: parse("Client"),
                role: parse("Role"),
                action: parse("Action"),
            }
        })
    }
}
