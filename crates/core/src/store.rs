//! The storage port: the narrow async interface the use cases need, implemented once per
//! backend by `warden-store`. Constraint violations arrive here already as [`StoreError`]s.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::identity::{AccountName, Email, RoleName, Username};
use crate::ids::{AccountId, ApiKeyId, ClientKey, PolicyId, RoleId, SessionId, UserId};
use crate::model::{
    Account, ApiKey, Assignment, Client, ClientRecord, KeyOwner, Membership, Policy, RefreshToken,
    Role, Session, Status, User, UserRecord,
};
use crate::page::PageRequest;
use crate::time::Timestamp;
use crate::tokens::KeyRecord;

/// One entry of the change log: something authorization-relevant changed; `key` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the log.
    pub seq: i64,
    /// `user`, `account`, `role`, `client`, `session`, `policy` or `api_key`.
    pub kind: String,
    /// The changed record's id.
    pub key: String,
}

/// Filters of the user list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Exact canonical email.
    pub email: Option<Email>,
    /// Exact canonical username.
    pub username: Option<Username>,
    /// Status.
    pub status: Option<Status>,
    /// Members of this account.
    pub account_id: Option<AccountId>,
    /// Exact external id.
    pub external_id: Option<String>,
}

/// A user as the authorization snapshot loads it: what decisions read, with the roles held.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedUser {
    /// The user.
    pub id: UserId,
    /// Whether the user may act.
    pub status: Status,
    /// Canonical email.
    pub email: String,
    /// Free attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A registered resource as the authorization snapshot loads it: its key and its stored JSON
/// text, unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedResource {
    /// Its key ([`crate::model::RegisteredResource::key`]).
    pub key: String,
    /// The attributes as stored (a JSON object).
    pub attributes: String,
    /// The parents as stored (a JSON array).
    pub parents: String,
}

/// One page of the snapshot's bulk load, in whatever order the backend reads fastest (table
/// order on SQLite, key order on PostgreSQL), and where the next page starts (`None`: this was
/// the last). The cursor is the backend's own.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    /// The rows.
    pub rows: Vec<T>,
    /// The cursor of the next page.
    pub next: Option<String>,
    /// On the first page of users or resources: how many the table holds as the load
    /// begins, to size the maps that receive them (`None` otherwise).
    pub expected: Option<u64>,
}

/// Filters of the account list.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Exact name.
    pub name: Option<AccountName>,
    /// Status.
    pub status: Option<Status>,
    /// Only this account (for account-scoped callers).
    pub only: Option<AccountId>,
}

/// Which roles a list shows.
#[derive(Debug, Clone, Default)]
pub struct RoleFilter {
    /// Exact name.
    pub name: Option<RoleName>,
    /// `Some(None)`: global roles only; `Some(Some(a))`: roles of account `a` only;
    /// `None`: all roles.
    pub scope: Option<Option<AccountId>>,
    /// For account-scoped callers: global roles plus the roles of this account.
    pub visible_in: Option<AccountId>,
}

/// Everything the first start writes, in one transaction.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The built-in roles.
    pub roles: Vec<Role>,
    /// The first super admin.
    pub admin: UserRecord,
    /// The admin's global `super_admin` assignment.
    pub admin_role: Assignment,
    /// The first signing key.
    pub key: KeyRecord,
    /// A value sealed under the master key, to detect a wrong master key at start.
    pub master_key_check: String,
}

/// What a login writes, together (see [`Store::open_login`]).
#[derive(Debug)]
pub struct NewLogin<'a> {
    /// The session to open.
    pub session: &'a Session,
    /// Its first refresh token, when the client may refresh.
    pub refresh: Option<&'a RefreshToken>,
    /// The stored password hash the login was verified against.
    pub password_hash: &'a str,
    /// Whether entering the session's account rests on a membership (rather than a global
    /// permission), which must still hold.
    pub member: bool,
}

/// An authorization code as stored: the hash of its value, the session it opens, and the
/// request it answers (JSON, read by `oauth::code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    /// SHA-256 of the code's value.
    pub code_hash: String,
    /// The session redeeming it opens (chosen when the code is issued).
    pub session_id: SessionId,
    /// What the code was issued for, as JSON.
    pub details: String,
    /// Issued.
    pub created_at: Timestamp,
    /// No longer redeemable from then.
    pub expires_at: Timestamp,
}

/// A user's TOTP second factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    /// The secret, sealed under the master key.
    pub secret_sealed: String,
    /// Enrolment started.
    pub created_at: Timestamp,
    /// Confirmed with a first code; until then the factor is pending and not required.
    pub confirmed_at: Option<Timestamp>,
    /// The newest time step accepted.
    pub last_step: i64,
}

/// What a person allowed an application on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(serde::Serialize)]
pub struct Consent {
    /// The application's `client_id`.
    pub client_id: String,
    /// The scope values allowed, space-separated.
    pub scope: String,
    /// Last granted.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub granted_at: Timestamp,
}

/// What presenting a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// The first presentation: the code is now used.
    Fresh(StoredCode),
    /// The code was used before: this presentation is recorded as a replay.
    Replayed(StoredCode),
    /// No such code.
    Unknown,
}

/// The storage port.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The connection pool's use: (open connections, idle ones, the most it opens); `None`
    /// for a store without a pool.
    fn pool_use(&self) -> Option<(u32, u32, u32)> {
        None
    }
    /// Writes the bootstrap once; `false` if the store was already initialized.
    async fn initialize(&self, bootstrap: &Bootstrap) -> Result<bool, StoreError>;
    /// Reads a metadata value.
    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// All signing keys.
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Adds a key and, in the same transaction, sets `retire_at` on every key that has none.
    async fn rotate_keys(&self, next: &KeyRecord, retire_at: Timestamp) -> Result<(), StoreError>;

    /// Inserts a user, optionally making it a member of an account in the same transaction.
    async fn insert_user(
        &self,
        user: &UserRecord,
        member_of: Option<&AccountId>,
    ) -> Result<(), StoreError>;
    /// A user by id.
    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError>;
    /// A user by canonical email or username.
    async fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, StoreError>;
    /// A page of users, ordered by id.
    async fn users(&self, filter: &UserFilter, page: &PageRequest)
        -> Result<Vec<User>, StoreError>;
    /// Replaces a user's mutable fields; `false` if it does not exist.
    async fn update_user(&self, user: &User) -> Result<bool, StoreError>;
    /// Replaces a user's password hash and, in the same transaction, ends every session of
    /// the user except `keep`.
    async fn set_password(
        &self,
        id: &UserId,
        hash: &str,
        at: Timestamp,
        keep: Option<&SessionId>,
    ) -> Result<bool, StoreError>;
    /// Deletes a user with its memberships, assignments and sessions.
    async fn delete_user(&self, id: &UserId) -> Result<bool, StoreError>;

    /// Inserts an account.
    async fn insert_account(&self, account: &Account) -> Result<(), StoreError>;
    /// An account by id.
    async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    /// An account by name.
    async fn account_by_name(&self, name: &AccountName) -> Result<Option<Account>, StoreError>;
    /// A page of accounts, ordered by id.
    async fn accounts(
        &self,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Vec<Account>, StoreError>;
    /// Replaces an account's mutable fields.
    async fn update_account(&self, account: &Account) -> Result<bool, StoreError>;
    /// Deletes an account with its memberships, roles and assignments.
    async fn delete_account(&self, id: &AccountId) -> Result<bool, StoreError>;

    /// Adds a member; [`StoreError::Conflict`] if already one.
    async fn add_member(&self, membership: &Membership) -> Result<(), StoreError>;
    /// Removes a member and the roles it held in that account.
    async fn remove_member(&self, account: &AccountId, user: &UserId) -> Result<bool, StoreError>;
    /// A page of an account's memberships, ordered by user id.
    async fn members(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Vec<Membership>, StoreError>;
    /// The accounts a user belongs to.
    async fn memberships(&self, user: &UserId) -> Result<Vec<AccountId>, StoreError>;

    /// Inserts a role with its inheritance edges.
    async fn insert_role(&self, role: &Role) -> Result<(), StoreError>;
    /// A role by id.
    async fn role(&self, id: &RoleId) -> Result<Option<Role>, StoreError>;
    /// A page of roles, ordered by id.
    async fn roles(&self, filter: &RoleFilter, page: &PageRequest)
        -> Result<Vec<Role>, StoreError>;
    /// Every global role and, with `Some(account)`, every role of that account.
    async fn roles_in_scope(&self, account: Option<&AccountId>) -> Result<Vec<Role>, StoreError>;
    /// Replaces a role's mutable fields and inheritance edges.
    async fn update_role(&self, role: &Role) -> Result<bool, StoreError>;
    /// Deletes a role and its assignments; [`StoreError::Conflict`] if another role inherits it.
    async fn delete_role(&self, id: &RoleId) -> Result<bool, StoreError>;

    /// Grants a role; [`StoreError::Conflict`] if already held there,
    /// [`StoreError::MissingReference`] if an account grant's user is not (or no longer) a
    /// member, checked atomically with the insert.
    async fn insert_assignment(&self, assignment: &Assignment) -> Result<(), StoreError>;
    /// Revokes a role. With `keep_one`, refuses ([`StoreError::Conflict`]) to remove the last
    /// holder, checking and deleting atomically.
    async fn delete_assignment(
        &self,
        user: &UserId,
        role: &RoleId,
        account: Option<&AccountId>,
        keep_one: bool,
    ) -> Result<bool, StoreError>;
    /// Every role a user holds, in every account and globally.
    async fn assignments(&self, user: &UserId) -> Result<Vec<Assignment>, StoreError>;
    /// Opens a login's session in one transaction: checks that the user is still active with
    /// the password hash the login verified, that the account (if any) is still active and,
    /// when `member` is set, that the user is still a member of it; then stores the session,
    /// its first refresh token and the last-login time. `false` (nothing written) when a check
    /// fails: a password changed or an account disabled while the login was hashing.
    async fn open_login(&self, login: &NewLogin<'_>) -> Result<bool, StoreError>;
    /// A session by id.
    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;
    /// A user's sessions that have not ended, newest first.
    async fn active_sessions(&self, user: &UserId) -> Result<Vec<Session>, StoreError>;
    /// A page of a user's live sessions, newest first (the cursor names the last id seen);
    /// with `account`, only the sessions in that account.
    async fn active_sessions_page(
        &self,
        user: &UserId,
        account: Option<&AccountId>,
        page: &PageRequest,
    ) -> Result<Vec<Session>, StoreError>;
    /// Ends a user's live sessions beyond the newest `keep`, atomically: concurrent calls for
    /// one user queue, so once they have all run at most `keep` remain. Returns the sessions
    /// it ended, oldest first.
    async fn end_oldest_sessions(
        &self,
        user: &UserId,
        keep: u32,
        at: Timestamp,
    ) -> Result<Vec<Session>, StoreError>;
    /// Ends a session; `false` if it had already ended or does not exist.
    async fn end_session(&self, id: &SessionId, at: Timestamp) -> Result<bool, StoreError>;
    /// Ends every live session opened through the client `client_id`; returns how many ended.
    async fn end_client_sessions(&self, client_id: &str, at: Timestamp) -> Result<u64, StoreError>;
    /// Ends every session of a user except `keep`; returns how many ended.
    async fn end_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        at: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Sessions ended in `since_ms..=until_ms` and after the `(ended_at, id)` position `after`,
    /// in order of ending: the revocation feed. With `account`, only sessions in that account.
    async fn ended_sessions(
        &self,
        since_ms: i64,
        until_ms: i64,
        after: Option<(i64, String)>,
        limit: i64,
        account: Option<&AccountId>,
    ) -> Result<Vec<(SessionId, Timestamp)>, StoreError>;
    /// A refresh token by the hash of its value.
    async fn refresh_by_hash(&self, hash: &str) -> Result<Option<RefreshToken>, StoreError>;
    /// Atomically marks `used` as used (only if it still is unused and its session has not
    /// ended) and stores `successor`; `false` when another request used it first or the session
    /// ended. Of N concurrent calls, exactly one wins.
    async fn rotate_refresh(
        &self,
        used: &RefreshToken,
        at: Timestamp,
        successor_sealed: &str,
        successor: &RefreshToken,
    ) -> Result<bool, StoreError>;

    /// Moves the live sessions opened from browser session `from` to `to` (the same person
    /// signed in again in that browser).
    async fn adopt_sessions(&self, from: &SessionId, to: &SessionId) -> Result<u64, StoreError>;
    /// What `user` allowed the client `client_id`, if anything.
    async fn consent(&self, user: &UserId, client_id: &str) -> Result<Option<Consent>, StoreError>;
    /// Adds `values` to what `user` allowed `client_id`, in one transaction that holds the
    /// user's row: consents given at once in two tabs both stay. Answers the consent as stored.
    async fn add_consent(
        &self,
        user: &UserId,
        client_id: &str,
        values: &[String],
        at: Timestamp,
    ) -> Result<Consent, StoreError>;
    /// Everything `user` allowed, by client.
    async fn consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError>;
    /// Withdraws what `user` allowed `client_id`; `false` when there was nothing.
    async fn delete_consent(&self, user: &UserId, client_id: &str) -> Result<bool, StoreError>;
    /// A user's TOTP factor, pending or confirmed.
    async fn totp_factor(&self, user: &UserId) -> Result<Option<TotpFactor>, StoreError>;
    /// Starts an enrolment with a new secret, replacing a pending one; `false` (and nothing
    /// changed) when a confirmed factor exists.
    async fn put_pending_totp(
        &self,
        user: &UserId,
        secret_sealed: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Confirms the pending factor whose secret is `secret_sealed` with the time step of a
    /// first code, and stores its recovery codes, in one transaction; `false` when it is no
    /// longer that pending factor (confirmed or replaced meanwhile).
    async fn confirm_totp(
        &self,
        user: &UserId,
        secret_sealed: &str,
        step: i64,
        at: Timestamp,
        recovery_hashes: &[String],
    ) -> Result<bool, StoreError>;
    /// Accepts a time step of a confirmed factor only when it is newer than every step
    /// accepted before: of concurrent uses of one code, one wins.
    async fn use_totp_step(&self, user: &UserId, step: i64) -> Result<bool, StoreError>;
    /// Uses a recovery code once.
    async fn use_recovery_code(
        &self,
        user: &UserId,
        code_hash: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Removes a user's factor and recovery codes; `false` when there was none.
    async fn delete_totp(&self, user: &UserId) -> Result<bool, StoreError>;
    /// Stores a new authorization code (and forgets codes expired long ago).
    async fn insert_code(&self, code: &StoredCode) -> Result<(), StoreError>;
    /// Marks the code used, atomically: of N concurrent presentations exactly one is
    /// [`CodeUse::Fresh`]; every other is [`CodeUse::Replayed`] and recorded as such.
    async fn take_code(&self, code_hash: &str, at: Timestamp) -> Result<CodeUse, StoreError>;
    /// Whether the code was presented again after its first use.
    async fn code_replayed(&self, code_hash: &str) -> Result<bool, StoreError>;

    /// Inserts a service client.
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    /// A client by internal id.
    async fn client(&self, id: &ClientKey) -> Result<Option<ClientRecord>, StoreError>;
    /// A client by its public `client_id`.
    async fn client_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError>;
    /// A page of clients with their secret hashes, optionally of one account, ordered by id.
    async fn clients(
        &self,
        account: Option<&AccountId>,
        page: &PageRequest,
    ) -> Result<Vec<ClientRecord>, StoreError>;
    /// Replaces a client's mutable fields and, when given, its secret hash.
    async fn update_client(
        &self,
        client: &Client,
        secret_hash: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Deletes a client.
    async fn delete_client(&self, id: &ClientKey) -> Result<bool, StoreError>;

    /// Stores an API key (only the hash of its value).
    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<(), StoreError>;
    /// An API key by the hash of its value.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Live (unrevoked) API keys with the hashes of their values, ordered by hash, after
    /// `after`: how the authorization snapshot loads them.
    async fn live_api_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, ApiKey)>, StoreError>;
    /// An owner's API keys, newest first.
    async fn api_keys(&self, owner: &KeyOwner) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes an API key of `owner`; `false` if there is no such live key.
    async fn revoke_api_key(
        &self,
        owner: &KeyOwner,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Records a use of an API key.
    async fn touch_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<(), StoreError>;

    /// Reserves one password check under every lock key of `keys`, atomically: `false` while
    /// any is locked (nothing counted); otherwise the attempt is counted as a failure under each
    /// key in its current window (restarting the window when older than `window_ms`) and each
    /// `locked_until` is set from its new count with `lock`, before the password is hashed.
    async fn reserve_login_attempt(
        &self,
        keys: &[String],
        now_ms: i64,
        window_ms: i64,
        lock: fn(i64) -> i64,
    ) -> Result<bool, StoreError>;
    /// Forgets the failures of an identifier after a successful password check.
    async fn clear_login_failures(&self, key_hash: &str) -> Result<(), StoreError>;

    /// Every assignment of the users whose ids lie in `first..=last` (bulk loading).
    async fn assignments_between(
        &self,
        first: &UserId,
        last: &UserId,
    ) -> Result<Vec<Assignment>, StoreError>;

    /// A page of users for the authorization snapshot, from `cursor` (`None`: the first).
    async fn load_users(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Loaded<LoadedUser>, StoreError>;

    /// A page of every role assignment for the authorization snapshot, from `cursor`.
    async fn load_assignments(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Loaded<Assignment>, StoreError>;

    /// Inserts a policy.
    async fn insert_policy(&self, policy: &Policy) -> Result<(), StoreError>;
    /// A policy by id.
    async fn policy(&self, id: &PolicyId) -> Result<Option<Policy>, StoreError>;
    /// A page of policies, ordered by id.
    async fn policies(
        &self,
        filter: &PolicyFilter,
        page: &PageRequest,
    ) -> Result<Vec<Policy>, StoreError>;
    /// Replaces a policy's mutable fields; `false` if it does not exist.
    async fn update_policy(&self, policy: &Policy) -> Result<bool, StoreError>;
    /// Deletes a policy.
    async fn delete_policy(&self, id: &PolicyId) -> Result<bool, StoreError>;

    /// Writes registered resources (inserted, or replacing the attributes and parents of the
    /// one under the same key), all in one transaction; for each, whether it was new.
    async fn put_resources(
        &self,
        resources: &[crate::model::RegisteredResource],
    ) -> Result<Vec<bool>, StoreError>;
    /// A registered resource by key ([`crate::model::RegisteredResource::key_of`]).
    async fn resource(
        &self,
        key: &str,
    ) -> Result<Option<crate::model::RegisteredResource>, StoreError>;
    /// Registered resources in key order, after `page.after` (a key).
    async fn resources(
        &self,
        filter: &ResourceFilter,
        page: &PageRequest,
    ) -> Result<Vec<crate::model::RegisteredResource>, StoreError>;
    /// A page of registered resources for the authorization snapshot, from `cursor`.
    async fn load_resources(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Loaded<LoadedResource>, StoreError>;
    /// Removes a registered resource; whether it existed.
    async fn delete_resource(&self, key: &str) -> Result<bool, StoreError>;

    /// The newest change-log position (0 when empty).
    async fn change_head(&self) -> Result<i64, StoreError>;
    /// Change-log entries after `seq`, in order, at most `limit`.
    async fn changes_after(&self, seq: i64, limit: i64) -> Result<Vec<Change>, StoreError>;
    /// Deletes change-log entries written before `before_ms`; returns how many.
    async fn prune_changes(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Returns when the change log may have grown (a notification, where the backend has
    /// them) or after `timeout`, whichever comes first.
    async fn wait_for_changes(&self, timeout: std::time::Duration) {
        tokio::time::sleep(timeout).await;
    }

    /// Appends a batch to the audit chain in one transaction holding the chain's head.
    async fn append_audit(&self, batch: &[crate::audit::record::Pending])
        -> Result<(), StoreError>;
    /// Audit records in order, filtered, after position `after`.
    async fn audit(
        &self,
        filter: &AuditFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<crate::audit::record::AuditRecord>, StoreError>;
}

/// Filters of the audit log; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Account.
    pub account_id: Option<AccountId>,
    /// From (inclusive), milliseconds.
    pub from_ms: Option<i64>,
    /// To (exclusive), milliseconds.
    pub to_ms: Option<i64>,
}

/// Filters of the registered-resource list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct ResourceFilter {
    /// `Some(None)`: global resources only; `Some(Some(a))`: account `a`'s only.
    pub scope: Option<Option<AccountId>>,
    /// One type only.
    pub kind: Option<String>,
}

/// Filters of the policy list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct PolicyFilter {
    /// `Some(None)`: global policies only; `Some(Some(a))`: account `a`'s only.
    pub scope: Option<Option<AccountId>>,
    /// For account-scoped callers: global policies plus this account's.
    pub visible_in: Option<AccountId>,
    /// Enabled or disabled only.
    pub enabled: Option<bool>,
}
