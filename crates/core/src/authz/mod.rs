//! Who is acting and what they may do: role graphs (inheritance closure, cycle detection),
//! the caller's permissions per scope, and the two rules that hold everywhere — no escalation
//! and tenant isolation.

use std::sync::Arc;

pub mod check;
pub mod engine;
pub mod grant;
pub mod permission;
mod roles_held;

pub use engine::graph::{effective_role_names, RoleGraph};
pub use grant::Granted;

use crate::audit::writer::{AuditLog, Event};
use crate::authz::engine::{Inactive, Principal, Resolved, Snapshot, Subject};
use crate::authz::permission::{Permission, PermissionSet};
use crate::error::DomainError;
use crate::ids::{AccountId, RoleId, SessionId, UserId};

/// An authenticated user acting through a token, with their permissions resolved.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
    /// The token's session.
    pub session_id: SessionId,
    /// The account the token acts in.
    pub account: Option<AccountId>,
    /// The API key the caller authenticated with, if not a session token.
    pub api_key: Option<crate::ids::ApiKeyId>,
    /// The role names a narrowed token (`scope`, or an API key's roles) limits it to.
    pub scoped_to: Option<Vec<String>>,
    /// Permissions from global assignments.
    global: PermissionSet,
    /// Permissions from assignments in `account`.
    local: PermissionSet,
    /// The snapshot the caller was resolved against: its policies on `warden.*` actions
    /// decide the admin API with the same combining rule as every other decision.
    snapshot: Option<Arc<Snapshot>>,
    /// Where a denial by policy is recorded.
    audit: Option<AuditLog>,
}

/// Splits the held roles' permissions into those granted globally and those granted in the
/// account.
fn split_grants(resolved: &Resolved<'_>) -> (PermissionSet, PermissionSet) {
    let mut global = PermissionSet::new();
    let mut local = PermissionSet::new();
    for held in &resolved.held {
        match held.account {
            None => global.extend(held.role.patterns.iter()),
            Some(_) => local.extend(held.role.patterns.iter()),
        }
    }
    (global, local)
}

impl Caller {
    /// Resolves the caller from the authorization snapshot (never the database): refuses a
    /// disabled or unknown user, an ended session and an inactive account.
    pub fn resolve(
        snapshot: &Arc<Snapshot>,
        user_id: UserId,
        session: Option<SessionId>,
        account: Option<AccountId>,
        scoped_to: Option<Vec<String>>,
    ) -> Result<Self, Inactive> {
        let principal = Principal {
            subject: Subject::User(user_id),
            account,
            session,
            scoped_to: scoped_to.clone(),
        };
        let resolved = snapshot.resolve(&principal)?;
        let (global, local) = split_grants(&resolved);
        Ok(Self {
            user_id,
            session_id: session.unwrap_or_default(),
            api_key: None,
            account,
            scoped_to,
            global,
            local,
            snapshot: Some(Arc::clone(snapshot)),
            audit: None,
        })
    }

    /// The caller as an engine principal (an API key has no session to check).
    pub fn principal(&self) -> Principal {
        Principal {
            subject: Subject::User(self.user_id),
            account: self.account,
            session: self.api_key.is_none().then_some(self.session_id),
            scoped_to: self.scoped_to.clone(),
        }
    }
}

/// A service client acting on Warden's API, with the permissions of its roles (in its account,
/// or globally for a global client).
#[derive(Debug, Clone)]
pub struct ClientCaller {
    /// The client's internal id.
    pub client: crate::ids::ClientKey,
    /// Its public `client_id`.
    pub client_id: String,
    /// The API key it authenticated with, if not its own token.
    pub api_key: Option<crate::ids::ApiKeyId>,
    /// Its account.
    pub account: Option<AccountId>,
    /// The role names a narrowed token limits it to.
    pub scoped_to: Option<Vec<String>>,
    global: PermissionSet,
    local: PermissionSet,
    snapshot: Option<Arc<Snapshot>>,
    audit: Option<AuditLog>,
}

impl ClientCaller {
    /// Resolves a client from the authorization snapshot; with `scoped_to`, only through the
    /// roles it names.
    pub fn resolve(
        snapshot: &Arc<Snapshot>,
        client_id: &str,
        scoped_to: Option<Vec<String>>,
    ) -> Result<Self, Inactive> {
        let entry = snapshot
            .clients
            .by_client_id(client_id)
            .ok_or(Inactive::Unknown)?;
        let principal = Principal {
            subject: Subject::Client(client_id.to_owned()),
            account: entry.account,
            session: None,
            scoped_to: scoped_to.clone(),
        };
        let resolved = snapshot.resolve(&principal)?;
        let granted = resolved.permissions();
        let (global, local) = match entry.account {
            Some(_) => (PermissionSet::new(), granted),
            None => (granted, PermissionSet::new()),
        };
        Ok(Self {
            client: entry.key,
            client_id: client_id.to_owned(),
            api_key: None,
            account: entry.account,
            scoped_to,
            global,
            local,
            snapshot: Some(Arc::clone(snapshot)),
            audit: None,
        })
    }

    /// The client as an engine principal.
    pub fn principal(&self) -> Principal {
        Principal {
            subject: Subject::Client(self.client_id.clone()),
            account: self.account,
            session: None,
            scoped_to: self.scoped_to.clone(),
        }
    }
}

/// Who performs an operation: the CLI (trusted: it holds the database) or a caller.
#[derive(Debug, Clone)]
pub enum Access {
    /// The operator at the `warden` command line.
    System,
    /// A user acting through a bearer token or an API key.
    Caller(Caller),
    /// A service client acting through its own token or API key.
    Client(ClientCaller),
}

impl Access {
    /// The same access, recording its denials by policy in `audit`.
    #[must_use]
    pub fn audited(mut self, audit: &AuditLog) -> Self {
        match &mut self {
            Self::System => {}
            Self::Caller(c) => c.audit = Some(audit.clone()),
            Self::Client(c) => c.audit = Some(audit.clone()),
        }
        self
    }

    /// The grants of a caller: its account, its global and its account permissions.
    fn grants(&self) -> Option<(Option<&AccountId>, &PermissionSet, &PermissionSet)> {
        match self {
            Self::System => None,
            Self::Caller(c) => Some((c.account.as_ref(), &c.global, &c.local)),
            Self::Client(c) => Some((c.account.as_ref(), &c.global, &c.local)),
        }
    }

    /// The caller's permissions in `account` (global ones included), or `None` for the system.
    pub fn permissions_in(&self, account: Option<&AccountId>) -> Option<PermissionSet> {
        let (home, global, local) = self.grants()?;
        let mut set = global.clone();
        if account.is_some() && account == home {
            set.extend(local.iter());
        }
        Some(set)
    }

    /// Whether the actor holds `permission` in `account` (`None`: globally).
    pub fn can(&self, permission: &'static str, account: Option<&AccountId>) -> bool {
        self.permissions_in(account)
            .is_none_or(|set| set.allows(&Permission::known(permission)))
    }

    /// Refuses unless the actor holds `permission` in `account`; the proof on success.
    pub fn require(
        &self,
        permission: &'static str,
        account: Option<&AccountId>,
    ) -> Result<Granted, DomainError> {
        if self.can(permission, account) {
            self.require_unforbidden(permission, account)?;
            Ok(Granted::to(self, permission, account.copied()))
        } else {
            Err(DomainError::Forbidden(format!(
                "this needs the permission `{permission}`"
            )))
        }
    }

    /// The second half of the combining rule for Warden's own API: the actor holds
    /// `permission` through its roles; a Cedar `forbid` on that action (global, or in the
    /// actor's account) that names the action still denies, with the policies named. The resource is the account
    /// acted on (`Account::"<id>"`), or `Warden::"global"`. The system (the CLI, the bootstrap)
    /// is not subject to policies.
    fn require_unforbidden(
        &self,
        permission: &'static str,
        account: Option<&AccountId>,
    ) -> Result<(), DomainError> {
        let (snapshot, principal, audit) = match self {
            Self::System => return Ok(()),
            Self::Caller(c) => (c.snapshot.as_ref(), c.principal(), c.audit.as_ref()),
            Self::Client(c) => (c.snapshot.as_ref(), c.principal(), c.audit.as_ref()),
        };
        let Some(snapshot) = snapshot else {
            return Ok(());
        };
        let resource = crate::authz::engine::Resource {
            kind: if account.is_some() {
                "Account"
            } else {
                "Warden"
            }
            .to_owned(),
            id: account.map_or_else(|| "global".to_owned(), ToString::to_string),
            attributes: serde_json::Map::new(),
            parents: Vec::new(),
        };
        let context = serde_json::Map::new();
        let query = crate::authz::engine::Query {
            action: permission,
            resource: &resource,
            context: &context,
            ip: None,
            time: crate::time::Timestamp::now().seconds(),
            principal_attributes: None,
        };
        let Ok(decision) = snapshot.decide(&principal, &query) else {
            return Ok(());
        };
        let forbidding: Vec<String> = decision
            .reasons
            .iter()
            .filter_map(|reason| match reason {
                // Warden's own actions answer only to policies that name them: a statement
                // with an unconstrained action is about the applications' actions.
                crate::authz::engine::Reason::Policy {
                    policy_id,
                    effect: "forbid",
                    ..
                } if snapshot.policies.names_action(policy_id, permission) => {
                    Some(policy_id.to_string())
                }
                _ => None,
            })
            .collect();
        if decision.allowed || forbidding.is_empty() {
            Ok(())
        } else {
            if let Some(audit) = audit {
                // A caller can repeat a denial at will: identical ones are coalesced.
                let event = Event {
                    actor: crate::authz::actor_name(self),
                    action: "access.denied",
                    account: account.copied(),
                    target: Some(format!("action:{permission}")),
                    details: serde_json::json!({ "action": permission, "forbidden_by": forbidding }),
                };
                audit.try_record_repeated(event, 1);
            }
            let named: Vec<String> = forbidding.iter().map(|id| format!("`{id}`")).collect();
            Err(DomainError::Forbidden(format!(
                "a policy forbids `{permission}` here: {}",
                named.join(", ")
            )))
        }
    }

    /// No escalation: refuses unless the actor holds every permission of `wanted` in `account`.
    pub fn require_covers(
        &self,
        wanted: &PermissionSet,
        account: Option<&AccountId>,
    ) -> Result<(), DomainError> {
        let Some(mine) = self.permissions_in(account) else {
            return Ok(());
        };
        let missing = mine.missing(wanted);
        if missing.is_empty() {
            Ok(())
        } else {
            let list: Vec<String> = missing.iter().map(|p| format!("`{p}`")).collect();
            Err(DomainError::Forbidden(format!(
                "you cannot grant permissions you do not hold: {}",
                list.join(", ")
            )))
        }
    }

    /// The role names a narrowed token (or an API key) limits the actor to, if any.
    fn scoped_to(&self) -> Option<&[String]> {
        match self {
            Self::System => None,
            Self::Caller(c) => c.scoped_to.as_deref(),
            Self::Client(c) => c.scoped_to.as_deref(),
        }
    }

    /// A narrowed actor mints only within the roles it carries: refuses any of `roles` (ids
    /// looked up in `graph`) that its token's `roles` do not name. Comparing permissions is
    /// not enough, since a role that grants nothing can still be what a policy allows.
    /// Actors that are not narrowed, and ids not in `graph`, are left to the caller's checks.
    pub fn require_carries(&self, graph: &RoleGraph, roles: &[RoleId]) -> Result<(), DomainError> {
        let Some(carried) = self.scoped_to() else {
            return Ok(());
        };
        for role in roles.iter().filter_map(|id| graph.get(id)) {
            if !carried.iter().any(|name| name == role.name.as_str()) {
                return Err(DomainError::Forbidden(format!(
                    "this token carries only the roles it was narrowed to, not `{}`",
                    role.name
                )));
            }
        }
        Ok(())
    }

    /// The account the actor acts in, if any.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            Self::System => None,
            Self::Caller(c) => c.account,
            Self::Client(c) => c.account,
        }
    }

    /// Who the actor is as a token's `sub` names it: a user id, or `client:<client_id>`;
    /// `system` for the operator.
    pub fn subject(&self) -> String {
        match self {
            Self::System => "system".into(),
            Self::Caller(c) => c.user_id.to_string(),
            Self::Client(c) => format!("client:{}", c.client_id),
        }
    }

    /// The acting service client, if any.
    pub fn client_key(&self) -> Option<crate::ids::ClientKey> {
        match self {
            Self::Client(client) => Some(client.client),
            Self::System | Self::Caller(_) => None,
        }
    }

    /// Whether the actor authenticated with an API key rather than a login or a client token.
    pub fn via_api_key(&self) -> bool {
        match self {
            Self::Caller(caller) => caller.api_key.is_some(),
            Self::Client(client) => client.api_key.is_some(),
            Self::System => false,
        }
    }

    /// The acting user, if any.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Self::Caller(caller) => Some(caller.user_id),
            Self::System | Self::Client(_) => None,
        }
    }

    /// Where the actor may exercise `permission`: everywhere (the system, or a global grant),
    /// in its token's account only, or nowhere.
    pub fn reach(&self, permission: &'static str) -> Reach {
        let wanted = Permission::known(permission);
        let Some((home, global, local)) = self.grants() else {
            return Reach::All;
        };
        if global.allows(&wanted) {
            return Reach::All;
        }
        match home {
            Some(account) if local.allows(&wanted) => Reach::Account(*account),
            _ => Reach::Nowhere,
        }
    }

    /// Refuses unless the actor holds `permission` in `account` (tenant isolation applies),
    /// or globally when `account` is `None`; the proof on success.
    pub fn require_scoped(
        &self,
        permission: &'static str,
        account: Option<&AccountId>,
    ) -> Result<Granted, DomainError> {
        match account {
            Some(account) => self.require_in(permission, account),
            None => self.require(permission, None),
        }
    }

    /// Visibility of a record that is global or belongs to one account (a role, a policy):
    /// 404 when an account-limited actor's `permission` does not reach the owner.
    pub fn require_sees(
        &self,
        permission: &'static str,
        owner: Option<&AccountId>,
        what: &'static str,
    ) -> Result<(), DomainError> {
        match (self.require_reach(permission)?.reach(), owner) {
            (Reach::Account(mine), Some(owner)) if *owner != mine => {
                Err(DomainError::NotFound(what))
            }
            _ => Ok(()),
        }
    }

    /// For a list of global and per-account records, filtered to `asked` (`Some(None)`:
    /// global only; `Some(Some(a))`: account `a`'s): the account an account-limited actor sees
    /// besides the global ones, or `None` for an actor that sees everything. Another
    /// tenant's account answers 404.
    pub fn list_scope(
        &self,
        permission: &'static str,
        asked: Option<Option<AccountId>>,
    ) -> Result<Option<AccountId>, DomainError> {
        match self.require_reach(permission)?.reach() {
            Reach::Account(mine) => match asked {
                Some(Some(asked)) if asked != mine => Err(DomainError::NotFound("account")),
                _ => Ok(Some(mine)),
            },
            Reach::All | Reach::Nowhere => Ok(None),
        }
    }

    /// Refuses unless the actor may exercise `permission` somewhere; the proof on success,
    /// held in the actor's account or globally ([`Granted::reach`]).
    pub fn require_reach(&self, permission: &'static str) -> Result<Granted, DomainError> {
        match self.reach(permission) {
            Reach::Nowhere => Err(DomainError::Forbidden(format!(
                "this needs the permission `{permission}`"
            ))),
            Reach::Account(mine) => {
                self.require_unforbidden(permission, Some(&mine))?;
                Ok(Granted::to(self, permission, Some(mine)))
            }
            Reach::All => {
                self.require_unforbidden(permission, None)?;
                Ok(Granted::to(self, permission, None))
            }
        }
    }

    /// Tenant isolation for one account-bound operation: the proof when the actor may
    /// exercise `permission` in `account`; 404 when the account is another tenant's; 403
    /// otherwise.
    pub fn require_in(
        &self,
        permission: &'static str,
        account: &AccountId,
    ) -> Result<Granted, DomainError> {
        match self.reach(permission) {
            Reach::All => {
                self.require_unforbidden(permission, Some(account))?;
                Ok(Granted::to(self, permission, Some(*account)))
            }
            Reach::Account(mine) if mine == *account => {
                self.require_unforbidden(permission, Some(account))?;
                Ok(Granted::to(self, permission, Some(*account)))
            }
            Reach::Account(_) => Err(DomainError::NotFound("account")),
            // Another tenant's account is not even confirmed to exist.
            Reach::Nowhere => match self.grants() {
                Some((home, _, _)) if home != Some(account) => {
                    Err(DomainError::NotFound("account"))
                }
                _ => Err(DomainError::Forbidden(format!(
                    "this needs the permission `{permission}`"
                ))),
            },
        }
    }
}

/// Who an actor is, for the log.
pub fn actor_name(actor: &Access) -> String {
    match actor {
        Access::System => "system".into(),
        Access::Caller(caller) => format!("user:{}", caller.user_id),
        Access::Client(client) => format!("client:{}", client.client),
    }
}

/// Where an actor may exercise a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// In every account and globally.
    All,
    /// Only in this account.
    Account(AccountId),
    /// Nowhere.
    Nowhere,
}

/// Credentials never manage credentials by self-service: a login manages its own API keys
/// without any permission, a caller authenticated by an API key only when one of the key's
/// roles grants `permission` explicitly. The proof is over the caller's own things.
pub fn require_self_service(
    caller: &Caller,
    permission: &'static str,
) -> Result<Granted, DomainError> {
    let wanted = Permission::known(permission);
    if caller.api_key.is_none() || caller.global.allows(&wanted) || caller.local.allows(&wanted) {
        Ok(Granted::own(caller))
    } else {
        Err(DomainError::Forbidden(format!(
            "an API key manages keys only through the permission `{permission}`; log in to do that"
        )))
    }
}

/// Refuses callers authenticated by an API key: managing sessions, keys and credentials needs
/// a login. The proof is over the caller's own things.
pub fn require_login(caller: &Caller) -> Result<Granted, DomainError> {
    match caller.api_key {
        Some(_) => Err(DomainError::Forbidden(
            "an API key cannot do this; log in to do that".into(),
        )),
        None => Ok(Granted::own(caller)),
    }
}

/// The proof any authenticated caller holds over its own profile.
pub(crate) fn own_profile(caller: &Caller) -> Granted {
    Granted::own(caller)
}

#[cfg(test)]
mod tests;
