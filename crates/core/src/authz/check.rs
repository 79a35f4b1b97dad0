//! The decision use cases behind `POST /v1/check`, `POST /v1/check/batch` and the
//! permissions listings: who the principal is (the caller, or one it names when it holds
//! `warden.check:any`), then the engine's answer from the in-memory snapshot. Denials are
//! audited, identical ones coalesced so that repeating a request cannot flood the log.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::authz::engine::{BadQuery, Decision, Principal, Query, Reason, Resource, Subject};
use crate::authz::permission::{builtin as p, Permission};
use crate::authz::{Access, Reach};
use crate::error::{DomainError, FieldError};
use crate::ids::{AccountId, UserId};
use crate::services::Services;
use crate::time::Timestamp;

/// Most checks in one batch.
pub const MAX_BATCH: usize = 1000;

/// A principal named explicitly: `"<user id>"`, `"client:<client_id>"`, or
/// `{"type": "user"|"client", "id": "…"}`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum PrincipalRef {
    /// A user id, or `client:<client_id>`.
    Text(String),
    /// Typed.
    Typed {
        /// `user` (the default) or `client`, in any case.
        #[serde(rename = "type", default = "user_kind")]
        kind: String,
        /// The user's id or the client's `client_id`.
        id: String,
    },
}

fn user_kind() -> String {
    "user".to_owned()
}

/// One decision request.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Whom to decide for; absent: the caller itself. (`user_id` is accepted as a synonym
    /// for a user principal.)
    #[serde(default, alias = "user_id")]
    pub principal: Option<PrincipalRef>,
    /// The account to decide in (with `principal`); absent: the caller's token's account.
    #[serde(default, alias = "account")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<AccountId>,
    /// A concrete permission, `resource:action`.
    pub action: String,
    /// The resource.
    pub resource: Resource,
    /// Free context for policies; Warden adds `ip`, `time` and `account`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub context: Map<String, Value>,
    /// Attributes the asker knows of the principal (AuthZEN `subject.properties`), added to
    /// the principal entity under Warden's own: not part of the `/v1/check` body.
    #[serde(skip)]
    pub principal_properties: Map<String, Value>,
}

/// One check of a batch: the principal and account are the batch's.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    /// A concrete permission.
    pub action: String,
    /// The resource.
    pub resource: Resource,
    /// Free context.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub context: Map<String, Value>,
}

/// Up to [`MAX_BATCH`] checks for one principal.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Whom to decide for; absent: the caller itself.
    #[serde(default, alias = "user_id")]
    pub principal: Option<PrincipalRef>,
    /// The account to decide in (with `principal`).
    #[serde(default, alias = "account")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<AccountId>,
    /// The checks, answered in order.
    pub checks: Vec<BatchItem>,
}

/// The answers of a batch, in request order.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchResponse {
    /// One decision per check.
    pub results: Vec<Decision>,
}

/// A principal's effective roles and permissions in one account.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Permissions {
    /// The user.
    pub user_id: UserId,
    /// The account; `null`: global roles only.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<AccountId>,
    /// Effective role names, inheritance included, sorted.
    pub roles: Vec<String>,
    /// Effective permission patterns, sorted.
    pub permissions: Vec<String>,
}

/// Who a request decides for, whether the caller vouches for the context's `ip`, and, for a
/// caller limited to one account, that account: it sees only reasons from its own tenant.
struct Asked {
    principal: Principal,
    explicit: bool,
    limited_to: Option<AccountId>,
}

impl Asked {
    /// Hides what a caller limited to one account may not learn about a principal it named:
    /// roles held elsewhere or globally, other scopes' policies, and the principal's state
    /// (which would tell whether a foreign id exists). The decision itself is unchanged.
    fn redact(&self, snapshot: &crate::authz::engine::Snapshot, decision: &mut Decision) {
        let Some(mine) = self.limited_to else { return };
        let ours =
            |policy: &crate::ids::PolicyId| snapshot.policies.scope_of(policy) == Some(Some(mine));
        decision.reasons.retain(|reason| match reason {
            Reason::Role { account_id, .. } => *account_id == Some(mine),
            Reason::Policy { policy_id, .. } => ours(policy_id),
            Reason::Principal { .. } => false,
        });
        decision.errors.retain(|fault| ours(&fault.policy_id));
    }
}

fn parse_principal(reference: &PrincipalRef) -> Result<Subject, DomainError> {
    let (kind, id) = match reference {
        PrincipalRef::Text(text) => match text.strip_prefix("client:") {
            Some(client_id) => ("client", client_id),
            None => ("user", text.as_str()),
        },
        PrincipalRef::Typed { kind, id } => (kind.as_str(), id.as_str()),
    };
    match kind.to_ascii_lowercase().as_str() {
        "user" => UserId::parse(id)
            .map(Subject::User)
            .map_err(|err| DomainError::invalid("principal", err)),
        "client" if !id.is_empty() && id.len() <= 256 => Ok(Subject::Client(id.to_owned())),
        _ => Err(DomainError::invalid(
            "principal",
            "name a user id, `client:<client_id>`, or {\"type\": \"user\"|\"client\", \"id\": …}",
        )),
    }
}

/// Decides who the request is about.
fn principal_for(
    actor: &Access,
    named: Option<&PrincipalRef>,
    account: Option<AccountId>,
) -> Result<Asked, DomainError> {
    let Some(named) = named else {
        let principal = match actor {
            Access::Caller(caller) => caller.principal(),
            Access::Client(client) => client.principal(),
            Access::System => {
                return Err(DomainError::invalid(
                    "principal",
                    "name the principal to decide for",
                ))
            }
        };
        if account.is_some() && account != principal.account {
            return Err(DomainError::Forbidden(
                "a token is checked in its own account; to ask about another, name the principal with `warden.check:any`".into(),
            ));
        }
        return Ok(Asked {
            principal,
            explicit: false,
            limited_to: None,
        });
    };
    let subject = parse_principal(named)?;
    // Naming a principal needs `warden.check:any`: everywhere, or in the caller's account
    // (which then limits what the answer shows).
    let (account, limited_to) = match (actor.reach(p::CHECK_ANY), account) {
        (Reach::All, account) => (account, None),
        (Reach::Account(mine), None) => (Some(mine), Some(mine)),
        (Reach::Account(mine), Some(asked)) if asked == mine => (Some(mine), Some(mine)),
        (Reach::Account(_), Some(_)) => return Err(DomainError::NotFound("account")),
        (Reach::Nowhere, _) => {
            return Err(DomainError::Forbidden(format!(
                "naming a principal needs the permission `{}`",
                p::CHECK_ANY
            )))
        }
    };
    Ok(Asked {
        principal: Principal {
            subject,
            account,
            session: None,
            scoped_to: None,
        },
        explicit: true,
        limited_to,
    })
}

/// Validates an action: a concrete permission.
fn action(text: &str, field: &str) -> Result<(), DomainError> {
    let permission = Permission::parse(text).map_err(|err| DomainError::invalid(field, err))?;
    if permission.as_str().contains('*') {
        return Err(DomainError::invalid(
            field,
            "ask about a concrete permission, without `*`",
        ));
    }
    Ok(())
}

fn bad_query(prefix: &str, err: BadQuery) -> DomainError {
    DomainError::Validation(vec![FieldError::new(
        format!("{prefix}{}", err.field),
        err.message,
    )])
}

/// The address policies see as `context.ip`: the requester's own, or, when a trusted caller
/// decides for someone else, the one it forwards in the context.
fn ip_for(asked: &Asked, context: &Map<String, Value>, peer: IpAddr) -> Option<IpAddr> {
    if asked.explicit {
        context
            .get("ip")
            .and_then(Value::as_str)
            .and_then(|text| text.parse().ok())
    } else {
        Some(peer)
    }
}

/// The audit event of a decision.
fn decision_event(
    actor: &Access,
    principal: &Principal,
    action: &str,
    resource: &Resource,
    decision: &Decision,
) -> crate::audit::Event<'static> {
    let subject = match &principal.subject {
        Subject::User(id) => format!("user:{id}"),
        Subject::Client(id) => format!("client:{id}"),
    };
    crate::audit::Event {
        actor: crate::authz::actor_name(actor),
        action: if decision.allowed {
            "check.allowed"
        } else {
            "check.denied"
        },
        account: principal.account,
        target: Some(format!("{}:{}", resource.kind, resource.id)),
        details: json!({ "principal": subject, "action": action, "reasons": decision.reasons }),
    }
}

/// Audits decisions: every denial (identical ones coalesced, with their count), and one
/// allowed decision in `audit_allowed_every`.
/// Decisions this process made through the decision APIs so far: (allowed, denied).
pub fn decision_counts() -> (u64, u64) {
    use std::sync::atomic::Ordering;
    (
        DECIDED_ALLOW.load(Ordering::Relaxed),
        DECIDED_DENY.load(Ordering::Relaxed),
    )
}

static DECIDED_ALLOW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static DECIDED_DENY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn audit_decisions(
    services: &Services,
    actor: &Access,
    principal: &Principal,
    decisions: &[(&str, &Resource, &Decision)],
) {
    let allowed = decisions.iter().filter(|(_, _, d)| d.allowed).count() as u64;
    DECIDED_ALLOW.fetch_add(allowed, std::sync::atomic::Ordering::Relaxed);
    DECIDED_DENY.fetch_add(
        decisions.len() as u64 - allowed,
        std::sync::atomic::Ordering::Relaxed,
    );
    static ALLOWED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // Identical denials of one request are one event, in order of first appearance.
    let mut denials: Vec<(crate::audit::Event<'static>, u64)> = Vec::new();
    let mut seen: std::collections::HashMap<(Option<String>, String), usize> =
        std::collections::HashMap::new();
    for &(action, resource, decision) in decisions {
        if decision.allowed {
            let every = services.settings.audit_allowed_every;
            let n = ALLOWED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if every != 0 && n % every == 0 {
                let event = decision_event(actor, principal, action, resource, decision);
                crate::audit::record(services, event).await;
            }
            continue;
        }
        let event = decision_event(actor, principal, action, resource, decision);
        let key = (event.target.clone(), event.details.to_string());
        match seen.get(&key) {
            Some(&i) => denials[i].1 += 1,
            None => {
                seen.insert(key, denials.len());
                denials.push((event, 1));
            }
        }
    }
    for (event, count) in denials {
        crate::audit::record_repeated(services, event, count).await;
    }
}

/// Decides one request, and audits it.
pub async fn check(
    services: &Services,
    actor: &Access,
    peer: IpAddr,
    request: &CheckRequest,
) -> Result<Decision, DomainError> {
    let (principal, decision) = decide(services, actor, peer, request)?;
    audit_decisions(
        services,
        actor,
        &principal,
        &[(request.action.as_str(), &request.resource, &decision)],
    )
    .await;
    Ok(decision)
}

/// Decides one request as [`check`] does, without auditing it: for searches, which ask
/// about many candidates to answer one question (and audit that).
pub fn decide_quietly(
    services: &Services,
    actor: &Access,
    peer: IpAddr,
    request: &CheckRequest,
) -> Result<Decision, DomainError> {
    decide(services, actor, peer, request).map(|(_, decision)| decision)
}

fn decide(
    services: &Services,
    actor: &Access,
    peer: IpAddr,
    request: &CheckRequest,
) -> Result<(Principal, Decision), DomainError> {
    action(&request.action, "action")?;
    let asked = principal_for(actor, request.principal.as_ref(), request.account_id)?;
    let snapshot = services.engine.snapshot();
    let registered = snapshot.with_registered(asked.principal.account.as_ref(), &request.resource);
    let query = Query {
        action: &request.action,
        resource: registered.as_ref().unwrap_or(&request.resource),
        context: &request.context,
        ip: ip_for(&asked, &request.context, peer),
        time: Timestamp::now().millis() / 1000,
        principal_attributes: Some(&request.principal_properties).filter(|p| !p.is_empty()),
    };
    let mut decision = snapshot
        .decide(&asked.principal, &query)
        .map_err(|err| bad_query("", err))?;
    asked.redact(&snapshot, &mut decision);
    Ok((asked.principal, decision))
}

/// Decides a batch, all against one snapshot.
pub async fn check_batch(
    services: &Services,
    actor: &Access,
    peer: IpAddr,
    request: &BatchRequest,
) -> Result<BatchResponse, DomainError> {
    if request.checks.len() > MAX_BATCH {
        return Err(DomainError::invalid(
            "checks",
            format!("at most {MAX_BATCH} checks per batch"),
        ));
    }
    for (i, item) in request.checks.iter().enumerate() {
        action(&item.action, &format!("checks[{i}].action"))?;
    }
    let asked = principal_for(actor, request.principal.as_ref(), request.account_id)?;
    let snapshot = services.engine.snapshot();
    let now = Timestamp::now().millis() / 1000;
    let mut results = Vec::with_capacity(request.checks.len());
    for (i, item) in request.checks.iter().enumerate() {
        let registered = snapshot.with_registered(asked.principal.account.as_ref(), &item.resource);
        let query = Query {
            action: &item.action,
            resource: registered.as_ref().unwrap_or(&item.resource),
            context: &item.context,
            ip: ip_for(&asked, &item.context, peer),
            time: now,
            principal_attributes: None,
        };
        let mut decision = snapshot
            .decide(&asked.principal, &query)
            .map_err(|err| bad_query(&format!("checks[{i}]."), err))?;
        asked.redact(&snapshot, &mut decision);
        results.push(decision);
    }
    let decided: Vec<(&str, &Resource, &Decision)> = request
        .checks
        .iter()
        .zip(&results)
        .map(|(item, decision)| (item.action.as_str(), &item.resource, decision))
        .collect();
    audit_decisions(services, actor, &asked.principal, &decided).await;
    Ok(BatchResponse { results })
}

/// A user's effective roles and permissions in `account` (global ones included). The user
/// themself may always ask; others need `warden.users:read` there, and a caller limited to
/// its account sees only that account's members (others answer 404).
pub async fn permissions(
    services: &Services,
    actor: &Access,
    user: &UserId,
    account: Option<AccountId>,
) -> Result<Permissions, DomainError> {
    if actor.user_id() != Some(*user) {
        match &account {
            Some(account) => actor.require_in(p::USERS_READ, account)?,
            None => actor.require(p::USERS_READ, None)?,
        };
        if let Reach::Account(mine) = actor.reach(p::USERS_READ) {
            if !services.store.memberships(user).await?.contains(&mine) {
                return Err(DomainError::NotFound("user"));
            }
        }
    }
    let snapshot = services.engine.snapshot();
    let principal = Principal {
        subject: Subject::User(*user),
        account,
        session: None,
        scoped_to: None,
    };
    let resolved = snapshot
        .resolve(&principal)
        .map_err(|_| DomainError::NotFound("user"))?;
    Ok(Permissions {
        user_id: *user,
        account_id: account,
        roles: resolved
            .role_names(&snapshot.roles)
            .iter()
            .map(|name| name.to_string())
            .collect(),
        permissions: resolved
            .permissions()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
    })
}
