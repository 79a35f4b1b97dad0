//! `warden policy test`: declared cases (principal, roles, action, resource, context ->
//! expected decision) run offline against a policy set and role definitions, through the same
//! engine the server decides with. For Warden's users' CI.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::authz::permission::Permission;
use crate::identity::RoleName;
use crate::ids::{AccountId, PolicyId, RoleId, UserId};
use crate::model::Role;
use crate::time::Timestamp;

use super::{
    compile, AccountEntry, CompiledPolicy, Decision, Effect, PolicyIndex, Principal, Query,
    Resource, RoleIndex, Snapshot, Subject, UserEntry,
};

/// A test file: roles, policies and cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Role definitions.
    #[serde(default)]
    pub roles: Vec<SuiteRole>,
    /// Policies.
    #[serde(default)]
    pub policies: Vec<SuitePolicy>,
    /// Cases.
    pub cases: Vec<Case>,
}

/// A role as the cases see it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteRole {
    /// Name.
    pub name: String,
    /// Its account (an id); absent: global.
    #[serde(default)]
    pub account: Option<AccountId>,
    /// Permissions.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Names of inherited roles (same account, or global).
    #[serde(default)]
    pub inherits: Vec<String>,
}

/// A policy: Cedar text, inline or from a file next to the suite.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuitePolicy {
    /// A name for reports.
    #[serde(default)]
    pub name: Option<String>,
    /// Its account (an id); absent: global.
    #[serde(default)]
    pub account: Option<AccountId>,
    /// The Cedar text (the CLI fills it from `file`).
    #[serde(default)]
    pub cedar: Option<String>,
    /// A file holding the Cedar text, relative to the suite.
    #[serde(default)]
    pub file: Option<String>,
}

/// Who a case asks about.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasePrincipal {
    /// The user's id (a UUID, as Warden's user ids are).
    pub id: UserId,
    /// Role names held in `account` (or globally, for global roles).
    #[serde(default)]
    pub roles: Vec<String>,
    /// The account the decision is made in.
    #[serde(default)]
    pub account: Option<AccountId>,
    /// Email attribute.
    #[serde(default)]
    pub email: Option<String>,
    /// Free attributes.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// Whether the user is disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What it checks.
    pub name: String,
    /// Who.
    pub principal: CasePrincipal,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: Resource,
    /// The context.
    #[serde(default)]
    pub context: Map<String, Value>,
    /// `allow` or `deny`.
    pub expect: String,
}

/// The outcome of one case.
#[derive(Debug)]
pub struct Outcome {
    /// The case's name.
    pub name: String,
    /// Whether the decision was the expected one.
    pub passed: bool,
    /// The decision, or why the case could not run.
    pub decision: Result<Decision, String>,
    /// The decision's reasons and policy errors in words, policies named as in the suite.
    pub explanation: String,
}

/// The reasons and errors of `decision`, with policies under their suite names.
fn explain(decision: &Decision, names: &HashMap<PolicyId, String>) -> String {
    let name = |id: &PolicyId| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let mut parts: Vec<String> = decision
        .reasons
        .iter()
        .map(|reason| match reason {
            super::Reason::Role { role, .. } => format!("role {role}"),
            super::Reason::Policy {
                policy_id,
                effect,
                failed,
            } => format!(
                "{effect} in {}{}",
                name(policy_id),
                if *failed { " (failed to evaluate)" } else { "" }
            ),
            super::Reason::Principal { code } => code.to_string(),
        })
        .collect();
    parts.extend(
        decision
            .errors
            .iter()
            .map(|fault| format!("error in {}: {}", name(&fault.policy_id), fault.message)),
    );
    if parts.is_empty() {
        "nothing grants it".into()
    } else {
        parts.join("; ")
    }
}

fn role_of(
    definition: &SuiteRole,
    ids: &HashMap<(Option<AccountId>, String), RoleId>,
) -> Result<Role, String> {
    let now = Timestamp::now();
    let key = (definition.account, definition.name.clone());
    let inherits = definition
        .inherits
        .iter()
        .map(|name| {
            ids.get(&(definition.account, name.clone()))
                .or_else(|| ids.get(&(None, name.clone())))
                .copied()
                .ok_or_else(|| format!("role `{}` inherits unknown role `{name}`", definition.name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Role {
        id: ids[&key],
        account_id: definition.account,
        name: RoleName::parse(&definition.name)?,
        description: String::new(),
        permissions: definition
            .permissions
            .iter()
            .map(|p| Permission::parse(p))
            .collect::<Result<_, _>>()?,
        inherits,
        builtin: false,
        created_at: now,
        updated_at: now,
    })
}

impl Suite {
    /// Runs every case; `Err` when the roles or policies themselves are invalid.
    pub fn run(&self) -> Result<Vec<Outcome>, String> {
        let ids: HashMap<(Option<AccountId>, String), RoleId> = self
            .roles
            .iter()
            .map(|r| ((r.account, r.name.clone()), RoleId::new()))
            .collect();
        let roles = self
            .roles
            .iter()
            .map(|r| role_of(r, &ids))
            .collect::<Result<Vec<_>, _>>()?;
        let mut compiled = Vec::new();
        let mut names = HashMap::new();
        for (i, policy) in self.policies.iter().enumerate() {
            let label = policy
                .name
                .clone()
                .unwrap_or_else(|| format!("policies[{i}]"));
            let text = policy
                .cedar
                .as_deref()
                .ok_or_else(|| format!("{label}: give `cedar` or `file`"))?;
            let id = PolicyId::new();
            let statements = compile(&id, text).map_err(|errors| {
                let list: Vec<String> = errors
                    .iter()
                    .map(|e| match (e.line, e.column) {
                        (Some(line), Some(column)) => format!("{line}:{column}: {}", e.message),
                        _ => e.message.clone(),
                    })
                    .collect();
                format!("{label}: {}", list.join("; "))
            })?;
            names.insert(id, label);
            compiled.push(Arc::new(CompiledPolicy::new(
                id,
                policy.account,
                true,
                statements,
            )));
        }
        let base = Snapshot {
            roles: Arc::new(RoleIndex::build(roles)),
            policies: Arc::new(PolicyIndex::build(compiled)),
            ..Snapshot::default()
        };
        Ok(self
            .cases
            .iter()
            .map(|case| run_case(&base, &ids, &names, case))
            .collect())
    }
}

fn run_case(
    base: &Snapshot,
    ids: &HashMap<(Option<AccountId>, String), RoleId>,
    names: &HashMap<PolicyId, String>,
    case: &Case,
) -> Outcome {
    let failed = |why: String| Outcome {
        name: case.name.clone(),
        passed: false,
        explanation: why.clone(),
        decision: Err(why),
    };
    let expect = match case.expect.as_str() {
        "allow" => Effect::Allow,
        "deny" => Effect::Deny,
        other => return failed(format!("`expect` must be `allow` or `deny`, not `{other}`")),
    };
    let p = &case.principal;
    let mut assignments = Vec::new();
    for name in &p.roles {
        match ids.get(&(p.account, name.clone())) {
            Some(id) => assignments.push((p.account, *id)),
            None => match ids.get(&(None, name.clone())) {
                Some(id) => assignments.push((None, *id)),
                None => return failed(format!("unknown role `{name}`")),
            },
        }
    }
    let entry = UserEntry::build(
        !p.disabled,
        p.email.as_deref().unwrap_or_default(),
        &p.attributes,
        assignments,
    );
    let mut snapshot = base.clone();
    snapshot.users = snapshot.users.with([(p.id, Some(entry))]);
    if let Some(account) = p.account {
        snapshot.accounts = snapshot
            .accounts
            .with([(account, Some(AccountEntry::open(true)))]);
    }
    let principal = Principal {
        subject: Subject::User(p.id),
        account: p.account,
        session: None,
        scoped_to: None,
    };
    let ip = case
        .context
        .get("ip")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok());
    let time = case
        .context
        .get("time")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| Timestamp::now().seconds());
    let query = Query {
        action: &case.action,
        resource: &case.resource,
        context: &case.context,
        ip,
        time,
        principal_attributes: None,
    };
    match snapshot.decide(&principal, &query) {
        Ok(decision) => Outcome {
            name: case.name.clone(),
            passed: decision.decision == expect,
            explanation: explain(&decision, names),
            decision: Ok(decision),
        },
        Err(err) => failed(format!("{}: {}", err.field, err.message)),
    }
}
