//! The immutable authorization snapshot: roles with their effective permissions precomputed,
//! the assignment index, clients, account states, recently ended sessions and the policy
//! index. A change builds a new snapshot that shares every untouched part with the old one,
//! so a change to one user copies one shard of the user map, never the whole map.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::graph::RoleGraph;
use crate::authz::permission::PermissionSet;
use crate::ids::{AccountId, ClientKey, RoleId, SessionId, UserId};
use crate::model::{Client, ClientRecord, Role, Status, User};

use super::accounts::AccountEntry;
use super::api_keys::{ApiKeyEntry, KeyHash};
use super::grants::Grants;
use super::policy::PolicyIndex;
use super::sharded::Sharded;

/// A role with its inheritance resolved.
#[derive(Debug)]
pub struct RoleEntry {
    /// The role's id.
    pub id: RoleId,
    /// Its name (a claim value and a Cedar `Role` entity id).
    pub name: Arc<str>,
    /// Its account; `None` for a global role.
    pub account: Option<AccountId>,
    /// The role itself and every role it inherits, directly or not.
    pub closure: Box<[RoleId]>,
    /// Its effective permissions, inheritance included, as written.
    pub patterns: PermissionSet,
    /// The same, compiled.
    pub grants: Grants,
}

/// Every role, by id.
#[derive(Debug, Default)]
pub struct RoleIndex {
    by_id: HashMap<RoleId, RoleEntry>,
    /// The roles as written, for the checks a role write makes (cycles, no escalation).
    graph: RoleGraph,
}

impl RoleIndex {
    /// Resolves inheritance for `roles` (cycles are refused on write; a cycle here would only
    /// stop the walk).
    pub fn build(roles: Vec<Role>) -> Self {
        let graph = RoleGraph::new(roles);
        let by_id = graph
            .iter()
            .map(|role| {
                let closure = graph.closure([&role.id]);
                let mut patterns = PermissionSet::new();
                for member in &closure {
                    patterns.extend(&member.permissions);
                }
                let entry = RoleEntry {
                    id: role.id,
                    name: role.name.as_str().into(),
                    account: role.account_id,
                    closure: closure.iter().map(|r| r.id).collect(),
                    grants: Grants::compile(&patterns),
                    patterns,
                };
                (role.id, entry)
            })
            .collect();
        Self { by_id, graph }
    }

    /// The roles visible in `account`'s scope, as written.
    pub fn graph_in_scope(&self, account: Option<&AccountId>) -> RoleGraph {
        self.graph.in_scope(account)
    }

    /// A role by id.
    pub fn get(&self, id: &RoleId) -> Option<&RoleEntry> {
        self.by_id.get(id)
    }

    /// Every role, in no order.
    pub fn iter(&self) -> impl Iterator<Item = &RoleEntry> {
        self.by_id.values()
    }

    /// How many roles there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// One role assignment: where (`None`: globally) and which role.
pub type Assignment = (Option<AccountId>, RoleId);

/// One shared set of assignments.
type Set = Arc<[Assignment]>;

/// How many sets and steps [`AssignmentSets`] remembers at most.
const MEMO_LIMIT: usize = 65_536;

/// Sets of assignments shared by the users that hold the same ones: most users of an
/// account hold the same few roles, so a million users cost a handful of sets. Loading
/// shares them; a user changed later gets a set of its own.
#[derive(Debug, Default)]
pub struct AssignmentSets {
    sets: std::collections::HashSet<Arc<[Assignment]>>,
    /// What adding an assignment to a set gives, by the set's address and the assignment,
    /// with the set itself: held here, its address names no other set meanwhile.
    steps: HashMap<(usize, Assignment), (Set, Set)>,
}

impl AssignmentSets {
    /// The shared set equal to `held`.
    pub fn share(&mut self, held: &[Assignment]) -> Arc<[Assignment]> {
        if let Some(set) = self.sets.get(held) {
            return Arc::clone(set);
        }
        let set: Arc<[Assignment]> = held.into();
        self.sets.insert(Arc::clone(&set));
        set
    }

    /// The shared set of `held` and `assignment`, in order.
    fn with(&mut self, held: &Arc<[Assignment]>, assignment: Assignment) -> Arc<[Assignment]> {
        // When users hardly share sets (each in an account of its own), remembering them
        // would hold every intermediate set until the load ends: start again instead.
        if self.steps.len() >= MEMO_LIMIT {
            self.steps.clear();
            self.sets.clear();
        }
        let step = (Arc::as_ptr(held).cast::<()>() as usize, assignment);
        if let Some((_, next)) = self.steps.get(&step) {
            return Arc::clone(next);
        }
        let next = match held.binary_search(&assignment) {
            Ok(_) => Arc::clone(held),
            Err(at) => {
                let mut all = Vec::with_capacity(held.len() + 1);
                all.extend_from_slice(&held[..at]);
                all.push(assignment);
                all.extend_from_slice(&held[at..]);
                self.share(&all)
            }
        };
        self.steps
            .insert(step, (Arc::clone(held), Arc::clone(&next)));
        next
    }
}

/// The set of no assignment, shared by every user holding none.
fn no_assignments() -> Arc<[Assignment]> {
    static NONE: std::sync::LazyLock<Arc<[Assignment]>> =
        std::sync::LazyLock::new(|| Arc::from(Vec::new()));
    Arc::clone(&NONE)
}

/// What the engine keeps of a user, held inline in the user map: two pointers to shared
/// allocations, so copying a shard of the map on a change copies no text, and a million
/// users take about 120 bytes each.
#[derive(Debug, Clone)]
pub struct UserEntry {
    /// A line feed when the user is disabled (an email never holds one), then the canonical
    /// email, then (after a line feed) the user's free attributes as compact JSON, parsed
    /// only when a policy needs them.
    text: Arc<str>,
    held: Arc<[Assignment]>,
}

/// What starts the text of a disabled user's entry.
const DISABLED: char = '\n';

impl UserEntry {
    /// An entry from its parts.
    pub fn build(
        active: bool,
        email: &str,
        attributes: &serde_json::Map<String, serde_json::Value>,
        assignments: impl IntoIterator<Item = Assignment>,
    ) -> Self {
        let disabled = if active { "" } else { "\n" };
        let text: Arc<str> = if attributes.is_empty() {
            format!("{disabled}{email}").into()
        } else {
            let attributes = serde_json::Value::Object(attributes.clone());
            format!("{disabled}{email}\n{attributes}").into()
        };
        let held: Vec<Assignment> = assignments.into_iter().collect();
        Self {
            text,
            held: if held.is_empty() {
                no_assignments()
            } else {
                held.into()
            },
        }
    }

    /// The entry for `user` holding `assignments`.
    pub fn new(user: &User, assignments: impl IntoIterator<Item = Assignment>) -> Self {
        Self::build(
            user.status == Status::Active,
            user.email.as_str(),
            &user.attributes,
            assignments,
        )
    }

    /// Adds an assignment, keeping them in order, sharing the resulting set through `sets`
    /// (bulk loading attaches them after the users).
    pub fn hold(&mut self, assignment: Assignment, sets: &mut AssignmentSets) {
        self.held = sets.with(&self.held, assignment);
    }

    /// Whether `other` is this very entry (the same allocations), not merely an equal one:
    /// what a cache keyed by user id checks before reusing what it built from the entry.
    pub fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.text, &other.text) && Arc::ptr_eq(&self.held, &other.held)
    }

    /// Whether the user may act at all.
    pub fn active(&self) -> bool {
        !self.text.starts_with(DISABLED)
    }

    /// The text after the disabled mark.
    fn unmarked(&self) -> &str {
        self.text.strip_prefix(DISABLED).unwrap_or(&self.text)
    }

    /// Canonical email.
    pub fn email(&self) -> &str {
        self.unmarked().split('\n').next().unwrap_or_default()
    }

    /// The free attributes as JSON text, if any.
    pub fn attributes(&self) -> Option<&str> {
        self.unmarked().split_once('\n').map(|(_, json)| json)
    }

    /// Role assignments.
    pub fn assignments(&self) -> &[Assignment] {
        &self.held
    }
}

/// What the engine keeps of a service client.
#[derive(Debug, Clone)]
pub struct ClientEntry {
    /// Internal id.
    pub key: ClientKey,
    /// Public `client_id`.
    pub client_id: Arc<str>,
    /// Whether it may act.
    pub active: bool,
    /// Its account; `None` for a global client.
    pub account: Option<AccountId>,
    /// Its roles.
    pub roles: Box<[RoleId]>,
    /// Addresses it may act from; empty means any.
    pub allowed_ips: Box<[crate::net::Cidr]>,
    /// Browser origins its pages call Warden from (CORS).
    pub allowed_origins: Box<[Box<str>]>,
    /// A third-party application: it signs people in (redirect URIs) and is not first-party.
    /// The tokens people get through it do not manage their credentials on Warden's API.
    pub third_party: bool,
    /// The client as stored, with its secret hash: what client authentication reads first.
    pub record: Arc<ClientRecord>,
}

/// Whether `client` is a third-party application: it signs people in and is not first-party.
pub fn is_third_party(client: &Client) -> bool {
    !client.sign_in.first_party && !client.sign_in.redirect_uris.is_empty()
}

impl From<ClientRecord> for ClientEntry {
    fn from(record: ClientRecord) -> Self {
        let client = &record.client;
        Self {
            key: client.id,
            client_id: client.client_id.as_str().into(),
            active: client.status == Status::Active,
            account: client.account_id,
            roles: client.roles.iter().copied().collect(),
            allowed_ips: client.allowed_ips.iter().copied().collect(),
            allowed_origins: client
                .sign_in
                .allowed_origins
                .iter()
                .map(|o| o.as_str().into())
                .collect(),
            third_party: is_third_party(client),
            record: Arc::new(record),
        }
    }
}

/// Clients by internal id and by public id.
#[derive(Debug, Default, Clone)]
pub struct ClientIndex {
    by_key: HashMap<ClientKey, Arc<ClientEntry>>,
    by_client_id: HashMap<Arc<str>, Arc<ClientEntry>>,
}

impl ClientIndex {
    /// Indexes `clients`.
    pub fn build(clients: impl IntoIterator<Item = ClientEntry>) -> Self {
        let mut index = Self::default();
        for client in clients {
            index.put(client);
        }
        index
    }

    fn put(&mut self, client: ClientEntry) {
        self.remove(&client.key);
        let client = Arc::new(client);
        self.by_client_id
            .insert(client.client_id.clone(), client.clone());
        self.by_key.insert(client.key, client);
    }

    fn remove(&mut self, key: &ClientKey) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_client_id.remove(&old.client_id);
        }
    }

    /// The index with one client replaced (`None`: removed).
    pub fn with(&self, key: ClientKey, client: Option<ClientEntry>) -> Self {
        let mut next = self.clone();
        next.set(key, client);
        next
    }

    /// Replaces one client in place (`None`: removes it).
    pub fn set(&mut self, key: ClientKey, client: Option<ClientEntry>) {
        match client {
            Some(client) => self.put(client),
            None => self.remove(&key),
        }
    }

    /// A client by its internal id.
    pub fn by_key(&self, key: &ClientKey) -> Option<&ClientEntry> {
        self.by_key.get(key).map(AsRef::as_ref)
    }

    /// A client by its public id.
    pub fn by_client_id(&self, client_id: &str) -> Option<&ClientEntry> {
        self.by_client_id.get(client_id).map(AsRef::as_ref)
    }

    /// Whether an active client registered `origin` (compared exactly, as browsers send it).
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.by_key
            .values()
            .any(|c| c.active && c.allowed_origins.iter().any(|o| &**o == origin))
    }
}

/// One consistent view of everything a decision reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The last change-log position applied.
    pub seq: i64,
    /// Roles.
    pub roles: Arc<RoleIndex>,
    /// Users and their assignments.
    pub users: Sharded<UserId, UserEntry>,
    /// Accounts.
    pub accounts: Sharded<AccountId, AccountEntry>,
    /// Service clients.
    pub clients: Arc<ClientIndex>,
    /// Sessions that ended recently enough for their access tokens to be still unexpired,
    /// with when they ended (milliseconds).
    pub ended: Sharded<SessionId, i64>,
    /// ABAC policies.
    pub policies: Arc<PolicyIndex>,
    /// Live API keys, by the hash of their value.
    pub api_keys: Sharded<KeyHash, Arc<ApiKeyEntry>>,
    /// Registered resources, by key.
    pub resources: super::registry::Registry,
}

/// Who a decision is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A user.
    User(UserId),
    /// A service client, by public `client_id`.
    Client(String),
}

/// A subject in context: the account it acts in, its token's session, and the role names a
/// narrowed token (`scope`) limits it to.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Who.
    pub subject: Subject,
    /// The account the decision is made in; `None`: global roles only.
    pub account: Option<AccountId>,
    /// The token's session, checked against ended sessions.
    pub session: Option<SessionId>,
    /// With `Some`, only the roles named (each with what it inherits) count.
    pub scoped_to: Option<Vec<String>>,
}

/// Why a principal cannot act at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inactive {
    /// No such user or client.
    Unknown,
    /// The user or client is disabled.
    Disabled,
    /// The token's session has ended.
    SessionEnded,
    /// The account does not exist or is disabled.
    AccountInactive,
}

impl Inactive {
    /// A short machine-readable reason.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unknown => "principal_unknown",
            Self::Disabled => "principal_disabled",
            Self::SessionEnded => "session_ended",
            Self::AccountInactive => "account_inactive",
        }
    }
}

/// A roles held directly, with the scope of the assignment.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    /// The role.
    pub role: &'a RoleEntry,
    /// Where it was granted: `None` globally.
    pub account: Option<AccountId>,
}

/// A principal resolved against a snapshot: its roles in the decision's account.
#[derive(Debug)]
pub struct Resolved<'a> {
    /// Roles held directly (after narrowing), each with its scope.
    pub held: Vec<Held<'a>>,
    /// The user entry, for a user principal.
    pub user: Option<&'a UserEntry>,
}

impl Resolved<'_> {
    /// The names of every effective role (held ones and what they inherit), sorted.
    pub fn role_names(&self, roles: &RoleIndex) -> Vec<Arc<str>> {
        let names: BTreeSet<Arc<str>> = self
            .effective_roles(roles)
            .map(|role| role.name.clone())
            .collect();
        names.into_iter().collect()
    }

    /// Whether an effective role named `name` is a global one (defined by the operator, not
    /// by an account): what a rule naming a bare role means, so a tenant that creates a local
    /// role of the same name gains nothing by it.
    pub fn acts_through_global(&self, roles: &RoleIndex, name: &str) -> bool {
        self.effective_roles(roles)
            .any(|role| role.account.is_none() && &*role.name == name)
    }

    fn effective_roles<'r>(
        &'r self,
        roles: &'r RoleIndex,
    ) -> impl Iterator<Item = &'r RoleEntry> + 'r {
        self.held
            .iter()
            .flat_map(|held| held.role.closure.iter())
            .filter_map(|id| roles.get(id))
    }

    /// The union of the effective permissions of the held roles.
    pub fn permissions(&self) -> PermissionSet {
        let mut set = PermissionSet::new();
        for held in &self.held {
            set.extend(held.role.patterns.iter());
        }
        set
    }
}

impl Snapshot {
    /// Resolves `principal`: refuses inactive principals, ended sessions and inactive
    /// accounts; otherwise the roles that apply in its account.
    pub fn resolve(&self, principal: &Principal) -> Result<Resolved<'_>, Inactive> {
        if let Some(account) = &principal.account {
            if !self.accounts.get(account).is_some_and(|a| a.active) {
                return Err(Inactive::AccountInactive);
            }
        }
        if let Some(session) = &principal.session {
            if self.ended.get(session).is_some() {
                return Err(Inactive::SessionEnded);
            }
        }
        let (direct, user): (Vec<(Option<AccountId>, RoleId)>, _) = match &principal.subject {
            Subject::User(id) => {
                let user = self.users.get(id).ok_or(Inactive::Unknown)?;
                if !user.active() {
                    return Err(Inactive::Disabled);
                }
                let direct = user
                    .assignments()
                    .iter()
                    .filter(|(scope, _)| scope.is_none() || *scope == principal.account)
                    .copied()
                    .collect();
                (direct, Some(user))
            }
            Subject::Client(client_id) => {
                let client = self
                    .clients
                    .by_client_id(client_id)
                    .ok_or(Inactive::Unknown)?;
                if !client.active {
                    return Err(Inactive::Disabled);
                }
                if let Some(home) = &client.account {
                    if !self.accounts.get(home).is_some_and(|a| a.active) {
                        return Err(Inactive::AccountInactive);
                    }
                }
                // A client's roles apply in its own account, or everywhere for a global one.
                let applies = client.account.is_none() || client.account == principal.account;
                let direct = if applies {
                    client
                        .roles
                        .iter()
                        .map(|role| (client.account, *role))
                        .collect()
                } else {
                    Vec::new()
                };
                (direct, None)
            }
        };
        let mut held: Vec<Held<'_>> = Vec::with_capacity(direct.len());
        for (scope, id) in direct {
            let Some(role) = self.roles.get(&id) else {
                continue;
            };
            match &principal.scoped_to {
                None => held.push(Held {
                    role,
                    account: scope,
                }),
                // A narrowed token acts through the named roles among those held and
                // inherited.
                Some(names) => {
                    for inherited in role.closure.iter().filter_map(|id| self.roles.get(id)) {
                        if names.iter().any(|n| **n == *inherited.name)
                            && !held
                                .iter()
                                .any(|h| h.role.id == inherited.id && h.account == scope)
                        {
                            held.push(Held {
                                role: inherited,
                                account: scope,
                            });
                        }
                    }
                }
            }
        }
        Ok(Resolved { held, user })
    }
}

impl Snapshot {
    /// Whether a token issued at `issued_at` (seconds, a JWT `iat`) in `account` may still be
    /// used: the account is active and was not disabled since (with its margin).
    pub fn account_accepts(&self, account: &AccountId, issued_at: i64) -> bool {
        self.accounts.get(account).is_some_and(|a| {
            a.active
                && (a.tokens_valid_after == 0
                    || issued_at.saturating_mul(1000)
                        > a.tokens_valid_after + crate::model::DISABLE_MARGIN_MS)
        })
    }

    /// The live key whose value hashes to `hash`.
    pub fn api_key(&self, hash: &str) -> Option<&Arc<ApiKeyEntry>> {
        self.api_keys.get(&KeyHash::new(hash))
    }
}
