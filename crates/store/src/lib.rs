//! Warden's storage adapter: one SQL implementation of the [`Store`] port, portable between
//! the embedded SQLite default and PostgreSQL (and Postgres-compatible engines). The few real
//! differences — migrations, connection pragmas, how a write transaction starts — live in
//! [`Backend`]; everything else is the same portable SQL over sqlx's `Any` driver.

mod accounts;
mod api_keys;
mod audit;
mod backend;
mod backup;
mod bulk;
mod clients;
mod codes;
mod consents;
mod error;
mod factors;
mod migrate;
mod misc;
mod policies;
mod resources;
mod roles;
mod rows;
mod sessions;
mod sql;
mod throttle;
mod users;

use async_trait::async_trait;
use sqlx::AnyPool;
use warden_core::identity::AccountName;
use warden_core::ids::{AccountId, ApiKeyId, ClientKey, PolicyId, RoleId, SessionId, UserId};
use warden_core::model::{
    Account, ApiKey, Assignment, Client, ClientRecord, KeyOwner, Membership, Policy, RefreshToken,
    Role, Session, User, UserRecord,
};
use warden_core::page::PageRequest;
use warden_core::store::{
    AccountFilter, Bootstrap, CodeUse, Consent, NewLogin, PolicyFilter, RoleFilter, Store,
    StoredCode, TotpFactor, UserFilter,
};
use warden_core::time::Timestamp;
use warden_core::tokens::KeyRecord;
use warden_core::StoreError;

pub use backend::Backend;
pub use backup::{inspect, stage, BackupError, Inspection, Staged, TableRows};
pub use error::ConnectError;

/// A connection pool to SQLite or PostgreSQL implementing [`Store`].
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// The URL, for the PostgreSQL change listener's own connection.
    url: std::sync::Arc<str>,
    /// On PostgreSQL, a `LISTEN warden_changes` connection, opened on first use.
    listener: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::postgres::PgListener>>>,
}

impl SqlStore {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) with at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, ConnectError> {
        let backend = Backend::from_url(url)?;
        let pool = backend.pool(url, max_connections).await?;
        Ok(Self {
            pool,
            backend,
            url: url.into(),
            listener: std::sync::Arc::new(tokio::sync::Mutex::new(None)),
        })
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, ConnectError> {
        migrate::run(&self.pool, self.backend).await
    }

    /// Which backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        misc::ping(&self.pool).await
    }
    fn pool_use(&self) -> Option<(u32, u32, u32)> {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        Some((
            self.pool.size(),
            idle,
            self.pool.options().get_max_connections(),
        ))
    }
    async fn initialize(&self, bootstrap: &Bootstrap) -> Result<bool, StoreError> {
        misc::initialize(self, bootstrap).await
    }
    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        misc::meta(&self.pool, key).await
    }
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        misc::keys(&self.pool).await
    }
    async fn rotate_keys(&self, next: &KeyRecord, retire_at: Timestamp) -> Result<(), StoreError> {
        misc::rotate_keys(self, next, retire_at).await
    }

    async fn insert_user(
        &self,
        user: &UserRecord,
        member_of: Option<&AccountId>,
    ) -> Result<(), StoreError> {
        users::insert(self, user, member_of).await
    }
    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        users::by_id(&self.pool, id).await
    }
    async fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        users::by_login(&self.pool, login).await
    }
    async fn users(
        &self,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Vec<User>, StoreError> {
        users::list(&self.pool, filter, page).await
    }
    async fn update_user(&self, user: &User) -> Result<bool, StoreError> {
        users::update(&self.pool, user).await
    }
    async fn set_password(
        &self,
        id: &UserId,
        hash: &str,
        at: Timestamp,
        keep: Option<&SessionId>,
    ) -> Result<bool, StoreError> {
        users::set_password(self, id, hash, at, keep).await
    }
    async fn delete_user(&self, id: &UserId) -> Result<bool, StoreError> {
        users::delete(&self.pool, id).await
    }

    async fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        accounts::insert(&self.pool, account).await
    }
    async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        accounts::by_id(&self.pool, id).await
    }
    async fn account_by_name(&self, name: &AccountName) -> Result<Option<Account>, StoreError> {
        accounts::by_name(&self.pool, name).await
    }
    async fn accounts(
        &self,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Vec<Account>, StoreError> {
        accounts::list(&self.pool, filter, page).await
    }
    async fn update_account(&self, account: &Account) -> Result<bool, StoreError> {
        accounts::update(self, account).await
    }
    async fn delete_account(&self, id: &AccountId) -> Result<bool, StoreError> {
        accounts::delete(&self.pool, id).await
    }

    async fn add_member(&self, membership: &Membership) -> Result<(), StoreError> {
        accounts::add_member(&self.pool, membership).await
    }
    async fn remove_member(&self, account: &AccountId, user: &UserId) -> Result<bool, StoreError> {
        accounts::remove_member(self, account, user).await
    }
    async fn members(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Vec<Membership>, StoreError> {
        accounts::members(&self.pool, account, page).await
    }
    async fn memberships(&self, user: &UserId) -> Result<Vec<AccountId>, StoreError> {
        accounts::memberships(&self.pool, user).await
    }

    async fn insert_role(&self, role: &Role) -> Result<(), StoreError> {
        roles::insert(self, role).await
    }
    async fn role(&self, id: &RoleId) -> Result<Option<Role>, StoreError> {
        roles::by_id(&self.pool, id).await
    }
    async fn roles(
        &self,
        filter: &RoleFilter,
        page: &PageRequest,
    ) -> Result<Vec<Role>, StoreError> {
        roles::list(&self.pool, filter, page).await
    }
    async fn roles_in_scope(&self, account: Option<&AccountId>) -> Result<Vec<Role>, StoreError> {
        roles::in_scope(&self.pool, account).await
    }
    async fn update_role(&self, role: &Role) -> Result<bool, StoreError> {
        roles::update(self, role).await
    }
    async fn delete_role(&self, id: &RoleId) -> Result<bool, StoreError> {
        roles::delete(self, id).await
    }

    async fn insert_assignment(&self, assignment: &Assignment) -> Result<(), StoreError> {
        roles::insert_assignment(self, assignment).await
    }
    async fn delete_assignment(
        &self,
        user: &UserId,
        role: &RoleId,
        account: Option<&AccountId>,
        keep_one: bool,
    ) -> Result<bool, StoreError> {
        roles::delete_assignment(self, user, role, account, keep_one).await
    }
    async fn assignments(&self, user: &UserId) -> Result<Vec<Assignment>, StoreError> {
        roles::assignments(&self.pool, user).await
    }

    async fn open_login(&self, login: &NewLogin<'_>) -> Result<bool, StoreError> {
        sessions::open_login(self, login).await
    }
    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        sessions::by_id(&self.pool, id).await
    }
    async fn active_sessions(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        sessions::active(&self.pool, user).await
    }
    async fn active_sessions_page(
        &self,
        user: &UserId,
        account: Option<&AccountId>,
        page: &PageRequest,
    ) -> Result<Vec<Session>, StoreError> {
        sessions::active_page(&self.pool, user, account, page).await
    }
    async fn end_oldest_sessions(
        &self,
        user: &UserId,
        keep: u32,
        at: Timestamp,
    ) -> Result<Vec<Session>, StoreError> {
        sessions::end_oldest(self, user, keep, at).await
    }
    async fn end_session(&self, id: &SessionId, at: Timestamp) -> Result<bool, StoreError> {
        sessions::end(&self.pool, id, at).await
    }
    async fn end_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        sessions::end_all(&self.pool, user, keep, at).await
    }
    async fn ended_sessions(
        &self,
        since_ms: i64,
        until_ms: i64,
        after: Option<(i64, String)>,
        limit: i64,
        account: Option<&AccountId>,
    ) -> Result<Vec<(SessionId, Timestamp)>, StoreError> {
        sessions::ended(&self.pool, since_ms, until_ms, after, limit, account).await
    }
    async fn refresh_by_hash(&self, hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        sessions::refresh_by_hash(&self.pool, hash).await
    }
    async fn rotate_refresh(
        &self,
        used: &RefreshToken,
        at: Timestamp,
        successor_sealed: &str,
        successor: &RefreshToken,
    ) -> Result<bool, StoreError> {
        sessions::rotate(self, used, at, successor_sealed, successor).await
    }

    async fn end_client_sessions(&self, client_id: &str, at: Timestamp) -> Result<u64, StoreError> {
        sessions::end_of_client(&self.pool, client_id, at).await
    }
    async fn adopt_sessions(&self, from: &SessionId, to: &SessionId) -> Result<u64, StoreError> {
        sessions::adopt(&self.pool, from, to).await
    }
    async fn consent(&self, user: &UserId, client_id: &str) -> Result<Option<Consent>, StoreError> {
        consents::get(&self.pool, user, client_id).await
    }
    async fn add_consent(
        &self,
        user: &UserId,
        client_id: &str,
        values: &[String],
        at: Timestamp,
    ) -> Result<Consent, StoreError> {
        consents::add(self, user, client_id, values, at).await
    }
    async fn consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError> {
        consents::list(&self.pool, user).await
    }
    async fn delete_consent(&self, user: &UserId, client_id: &str) -> Result<bool, StoreError> {
        consents::delete(&self.pool, user, client_id).await
    }
    async fn totp_factor(&self, user: &UserId) -> Result<Option<TotpFactor>, StoreError> {
        factors::get(&self.pool, user).await
    }
    async fn put_pending_totp(
        &self,
        user: &UserId,
        secret_sealed: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        factors::put_pending(&self.pool, user, secret_sealed, at).await
    }
    async fn confirm_totp(
        &self,
        user: &UserId,
        secret_sealed: &str,
        step: i64,
        at: Timestamp,
        recovery_hashes: &[String],
    ) -> Result<bool, StoreError> {
        factors::confirm(self, user, secret_sealed, step, at, recovery_hashes).await
    }
    async fn use_totp_step(&self, user: &UserId, step: i64) -> Result<bool, StoreError> {
        factors::use_step(&self.pool, user, step).await
    }
    async fn use_recovery_code(
        &self,
        user: &UserId,
        code_hash: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        factors::use_recovery(&self.pool, user, code_hash, at).await
    }
    async fn delete_totp(&self, user: &UserId) -> Result<bool, StoreError> {
        factors::delete(self, user).await
    }
    async fn insert_code(&self, code: &StoredCode) -> Result<(), StoreError> {
        codes::insert(&self.pool, code).await
    }
    async fn take_code(&self, code_hash: &str, at: Timestamp) -> Result<CodeUse, StoreError> {
        codes::take(self, code_hash, at).await
    }
    async fn code_replayed(&self, code_hash: &str) -> Result<bool, StoreError> {
        codes::replayed(&self.pool, code_hash).await
    }

    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        clients::insert(&self.pool, client).await
    }
    async fn client(&self, id: &ClientKey) -> Result<Option<ClientRecord>, StoreError> {
        clients::by(&self.pool, "id", &id.to_string()).await
    }
    async fn client_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        clients::by(&self.pool, "client_id", client_id).await
    }
    async fn clients(
        &self,
        account: Option<&AccountId>,
        page: &PageRequest,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        clients::list(&self.pool, account, page).await
    }
    async fn update_client(
        &self,
        client: &Client,
        secret_hash: Option<&str>,
    ) -> Result<bool, StoreError> {
        clients::update(&self.pool, client, secret_hash).await
    }
    async fn delete_client(&self, id: &ClientKey) -> Result<bool, StoreError> {
        clients::delete(&self.pool, id).await
    }

    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<(), StoreError> {
        api_keys::insert(&self.pool, key, key_hash).await
    }
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        api_keys::by_hash(&self.pool, key_hash).await
    }
    async fn live_api_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, ApiKey)>, StoreError> {
        api_keys::live(&self.pool, after, limit).await
    }
    async fn api_keys(&self, owner: &KeyOwner) -> Result<Vec<ApiKey>, StoreError> {
        api_keys::of_owner(&self.pool, owner).await
    }
    async fn revoke_api_key(
        &self,
        owner: &KeyOwner,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        api_keys::revoke(&self.pool, owner, id, at).await
    }
    async fn touch_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<(), StoreError> {
        api_keys::touch(&self.pool, id, at).await
    }

    async fn reserve_login_attempt(
        &self,
        keys: &[String],
        now_ms: i64,
        window_ms: i64,
        lock: fn(i64) -> i64,
    ) -> Result<bool, StoreError> {
        throttle::reserve(self, keys, now_ms, window_ms, lock).await
    }
    async fn clear_login_failures(&self, key_hash: &str) -> Result<(), StoreError> {
        throttle::clear(&self.pool, key_hash).await
    }

    async fn assignments_between(
        &self,
        first: &UserId,
        last: &UserId,
    ) -> Result<Vec<Assignment>, StoreError> {
        policies::assignments_between(&self.pool, first, last).await
    }

    async fn load_users(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<warden_core::store::Loaded<warden_core::store::LoadedUser>, StoreError> {
        bulk::users(&self.pool, self.backend, cursor, limit).await
    }
    async fn load_assignments(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<warden_core::store::Loaded<Assignment>, StoreError> {
        bulk::assignments(&self.pool, self.backend, cursor, limit).await
    }
    async fn load_resources(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<warden_core::store::Loaded<warden_core::store::LoadedResource>, StoreError> {
        bulk::resources(&self.pool, self.backend, cursor, limit).await
    }

    async fn insert_policy(&self, policy: &Policy) -> Result<(), StoreError> {
        policies::insert(&self.pool, policy).await
    }
    async fn policy(&self, id: &PolicyId) -> Result<Option<Policy>, StoreError> {
        policies::by_id(&self.pool, id).await
    }
    async fn policies(
        &self,
        filter: &PolicyFilter,
        page: &PageRequest,
    ) -> Result<Vec<Policy>, StoreError> {
        policies::list(&self.pool, filter, page).await
    }
    async fn update_policy(&self, policy: &Policy) -> Result<bool, StoreError> {
        policies::update(&self.pool, policy).await
    }
    async fn delete_policy(&self, id: &PolicyId) -> Result<bool, StoreError> {
        policies::delete(&self.pool, id).await
    }

    async fn put_resources(
        &self,
        items: &[warden_core::model::RegisteredResource],
    ) -> Result<Vec<bool>, StoreError> {
        resources::put(&self.pool, self.backend, items).await
    }
    async fn resource(
        &self,
        key: &str,
    ) -> Result<Option<warden_core::model::RegisteredResource>, StoreError> {
        resources::by_key(&self.pool, key).await
    }
    async fn resources(
        &self,
        filter: &warden_core::store::ResourceFilter,
        page: &PageRequest,
    ) -> Result<Vec<warden_core::model::RegisteredResource>, StoreError> {
        resources::list(&self.pool, filter, page).await
    }
    async fn delete_resource(&self, key: &str) -> Result<bool, StoreError> {
        resources::delete(&self.pool, key).await
    }

    async fn change_head(&self) -> Result<i64, StoreError> {
        policies::change_head(&self.pool).await
    }
    async fn changes_after(
        &self,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<warden_core::authz::engine::Change>, StoreError> {
        policies::changes_after(&self.pool, seq, limit).await
    }
    async fn prune_changes(&self, before_ms: i64) -> Result<u64, StoreError> {
        policies::prune_changes(&self.pool, before_ms).await
    }

    async fn wait_for_changes(&self, timeout: std::time::Duration) {
        match self.backend {
            Backend::Sqlite => tokio::time::sleep(timeout).await,
            Backend::Postgres => policies::wait_for_notify(self, timeout).await,
        }
    }

    async fn append_audit(&self, batch: &[warden_core::audit::Pending]) -> Result<(), StoreError> {
        audit::append(self, batch).await
    }
    async fn audit(
        &self,
        filter: &warden_core::store::AuditFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<warden_core::audit::AuditRecord>, StoreError> {
        audit::list(&self.pool, filter, after, limit).await
    }
}
