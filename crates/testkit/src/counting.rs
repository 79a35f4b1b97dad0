//! A store that counts the calls made to it: tests assert that a path reads nothing, by
//! counting calls rather than timing them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use warden_core::identity::AccountName;
use warden_core::ids::{AccountId, ApiKeyId, ClientKey, PolicyId, RoleId, SessionId, UserId};
use warden_core::model::{
    Account, ApiKey, Assignment, Client, ClientRecord, KeyOwner, Membership, Policy, RefreshToken,
    Role, Session, User, UserRecord,
};
use warden_core::page::PageRequest;
use warden_core::store::{
    AccountFilter, AuditFilter, Bootstrap, CodeUse, Consent, NewLogin, PolicyFilter, RoleFilter,
    Store, StoredCode, TotpFactor, UserFilter,
};
use warden_core::time::Timestamp;
use warden_core::tokens::KeyRecord;
use warden_core::StoreError;

/// Wraps a store and counts each method called, by name.
pub struct CountingStore {
    inner: Arc<dyn Store>,
    calls: Mutex<BTreeMap<&'static str, u64>>,
}

impl CountingStore {
    /// Counts the calls made to `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    fn count(&self, method: &'static str) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        *calls.entry(method).or_default() += 1;
    }

    /// The calls counted since the last [`CountingStore::take`], by method, and starts over.
    pub fn take(&self) -> BTreeMap<&'static str, u64> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.count("ping");
        self.inner.ping().await
    }

    async fn initialize(&self, bootstrap: &Bootstrap) -> Result<bool, StoreError> {
        self.count("initialize");
        self.inner.initialize(bootstrap).await
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.count("meta");
        self.inner.meta(key).await
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.count("keys");
        self.inner.keys().await
    }

    async fn rotate_keys(&self, next: &KeyRecord, retire_at: Timestamp) -> Result<(), StoreError> {
        self.count("rotate_keys");
        self.inner.rotate_keys(next, retire_at).await
    }

    async fn insert_user(
        &self,
        user: &UserRecord,
        member_of: Option<&AccountId>,
    ) -> Result<(), StoreError> {
        self.count("insert_user");
        self.inner.insert_user(user, member_of).await
    }

    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        self.count("user");
        self.inner.user(id).await
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, StoreError> {
        self.count("user_by_login");
        self.inner.user_by_login(login).await
    }

    async fn users(
        &self,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Vec<User>, StoreError> {
        self.count("users");
        self.inner.users(filter, page).await
    }

    async fn update_user(&self, user: &User) -> Result<bool, StoreError> {
        self.count("update_user");
        self.inner.update_user(user).await
    }

    async fn set_password(
        &self,
        id: &UserId,
        hash: &str,
        at: Timestamp,
        keep: Option<&SessionId>,
    ) -> Result<bool, StoreError> {
        self.count("set_password");
        self.inner.set_password(id, hash, at, keep).await
    }

    async fn delete_user(&self, id: &UserId) -> Result<bool, StoreError> {
        self.count("delete_user");
        self.inner.delete_user(id).await
    }

    async fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        self.count("insert_account");
        self.inner.insert_account(account).await
    }

    async fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.count("account");
        self.inner.account(id).await
    }

    async fn account_by_name(&self, name: &AccountName) -> Result<Option<Account>, StoreError> {
        self.count("account_by_name");
        self.inner.account_by_name(name).await
    }

    async fn accounts(
        &self,
        filter: &AccountFilter,
        page: &PageRequest,
    ) -> Result<Vec<Account>, StoreError> {
        self.count("accounts");
        self.inner.accounts(filter, page).await
    }

    async fn update_account(&self, account: &Account) -> Result<bool, StoreError> {
        self.count("update_account");
        self.inner.update_account(account).await
    }

    async fn delete_account(&self, id: &AccountId) -> Result<bool, StoreError> {
        self.count("delete_account");
        self.inner.delete_account(id).await
    }

    async fn add_member(&self, membership: &Membership) -> Result<(), StoreError> {
        self.count("add_member");
        self.inner.add_member(membership).await
    }

    async fn remove_member(&self, account: &AccountId, user: &UserId) -> Result<bool, StoreError> {
        self.count("remove_member");
        self.inner.remove_member(account, user).await
    }

    async fn members(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Vec<Membership>, StoreError> {
        self.count("members");
        self.inner.members(account, page).await
    }

    async fn memberships(&self, user: &UserId) -> Result<Vec<AccountId>, StoreError> {
        self.count("memberships");
        self.inner.memberships(user).await
    }

    async fn insert_role(&self, role: &Role) -> Result<(), StoreError> {
        self.count("insert_role");
        self.inner.insert_role(role).await
    }

    async fn role(&self, id: &RoleId) -> Result<Option<Role>, StoreError> {
        self.count("role");
        self.inner.role(id).await
    }

    async fn roles(
        &self,
        filter: &RoleFilter,
        page: &PageRequest,
    ) -> Result<Vec<Role>, StoreError> {
        self.count("roles");
        self.inner.roles(filter, page).await
    }

    async fn roles_in_scope(&self, account: Option<&AccountId>) -> Result<Vec<Role>, StoreError> {
        self.count("roles_in_scope");
        self.inner.roles_in_scope(account).await
    }

    async fn update_role(&self, role: &Role) -> Result<bool, StoreError> {
        self.count("update_role");
        self.inner.update_role(role).await
    }

    async fn delete_role(&self, id: &RoleId) -> Result<bool, StoreError> {
        self.count("delete_role");
        self.inner.delete_role(id).await
    }

    async fn insert_assignment(&self, assignment: &Assignment) -> Result<(), StoreError> {
        self.count("insert_assignment");
        self.inner.insert_assignment(assignment).await
    }

    async fn delete_assignment(
        &self,
        user: &UserId,
        role: &RoleId,
        account: Option<&AccountId>,
        keep_one: bool,
    ) -> Result<bool, StoreError> {
        self.count("delete_assignment");
        self.inner
            .delete_assignment(user, role, account, keep_one)
            .await
    }

    async fn assignments(&self, user: &UserId) -> Result<Vec<Assignment>, StoreError> {
        self.count("assignments");
        self.inner.assignments(user).await
    }

    async fn open_login(&self, login: &NewLogin<'_>) -> Result<bool, StoreError> {
        self.count("open_login");
        self.inner.open_login(login).await
    }

    async fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.count("session");
        self.inner.session(id).await
    }

    async fn active_sessions(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        self.count("active_sessions");
        self.inner.active_sessions(user).await
    }

    async fn active_sessions_page(
        &self,
        user: &UserId,
        account: Option<&AccountId>,
        page: &PageRequest,
    ) -> Result<Vec<Session>, StoreError> {
        self.count("active_sessions_page");
        self.inner.active_sessions_page(user, account, page).await
    }

    async fn end_oldest_sessions(
        &self,
        user: &UserId,
        keep: u32,
        at: Timestamp,
    ) -> Result<Vec<Session>, StoreError> {
        self.count("end_oldest_sessions");
        self.inner.end_oldest_sessions(user, keep, at).await
    }

    async fn end_session(&self, id: &SessionId, at: Timestamp) -> Result<bool, StoreError> {
        self.count("end_session");
        self.inner.end_session(id, at).await
    }

    async fn end_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        self.count("end_sessions");
        self.inner.end_sessions(user, keep, at).await
    }

    async fn ended_sessions(
        &self,
        since_ms: i64,
        until_ms: i64,
        after: Option<(i64, String)>,
        limit: i64,
        account: Option<&AccountId>,
    ) -> Result<Vec<(SessionId, Timestamp)>, StoreError> {
        self.count("ended_sessions");
        self.inner
            .ended_sessions(since_ms, until_ms, after, limit, account)
            .await
    }

    async fn refresh_by_hash(&self, hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        self.count("refresh_by_hash");
        self.inner.refresh_by_hash(hash).await
    }

    async fn rotate_refresh(
        &self,
        used: &RefreshToken,
        at: Timestamp,
        successor_sealed: &str,
        successor: &RefreshToken,
    ) -> Result<bool, StoreError> {
        self.count("rotate_refresh");
        self.inner
            .rotate_refresh(used, at, successor_sealed, successor)
            .await
    }

    async fn adopt_sessions(&self, from: &SessionId, to: &SessionId) -> Result<u64, StoreError> {
        self.count("adopt_sessions");
        self.inner.adopt_sessions(from, to).await
    }

    async fn consent(&self, user: &UserId, client_id: &str) -> Result<Option<Consent>, StoreError> {
        self.count("consent");
        self.inner.consent(user, client_id).await
    }

    async fn put_consent(&self, user: &UserId, consent: &Consent) -> Result<(), StoreError> {
        self.count("put_consent");
        self.inner.put_consent(user, consent).await
    }

    async fn consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError> {
        self.count("consents");
        self.inner.consents(user).await
    }

    async fn delete_consent(&self, user: &UserId, client_id: &str) -> Result<bool, StoreError> {
        self.count("delete_consent");
        self.inner.delete_consent(user, client_id).await
    }

    async fn totp_factor(&self, user: &UserId) -> Result<Option<TotpFactor>, StoreError> {
        self.count("totp_factor");
        self.inner.totp_factor(user).await
    }

    async fn put_pending_totp(
        &self,
        user: &UserId,
        secret_sealed: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.count("put_pending_totp");
        self.inner.put_pending_totp(user, secret_sealed, at).await
    }

    async fn confirm_totp(
        &self,
        user: &UserId,
        secret_sealed: &str,
        step: i64,
        at: Timestamp,
        recovery_hashes: &[String],
    ) -> Result<bool, StoreError> {
        self.count("confirm_totp");
        self.inner
            .confirm_totp(user, secret_sealed, step, at, recovery_hashes)
            .await
    }

    async fn use_totp_step(&self, user: &UserId, step: i64) -> Result<bool, StoreError> {
        self.count("use_totp_step");
        self.inner.use_totp_step(user, step).await
    }

    async fn use_recovery_code(
        &self,
        user: &UserId,
        code_hash: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.count("use_recovery_code");
        self.inner.use_recovery_code(user, code_hash, at).await
    }

    async fn delete_totp(&self, user: &UserId) -> Result<bool, StoreError> {
        self.count("delete_totp");
        self.inner.delete_totp(user).await
    }

    async fn insert_code(&self, code: &StoredCode) -> Result<(), StoreError> {
        self.count("insert_code");
        self.inner.insert_code(code).await
    }

    async fn take_code(&self, code_hash: &str, at: Timestamp) -> Result<CodeUse, StoreError> {
        self.count("take_code");
        self.inner.take_code(code_hash, at).await
    }

    async fn code_replayed(&self, code_hash: &str) -> Result<bool, StoreError> {
        self.count("code_replayed");
        self.inner.code_replayed(code_hash).await
    }

    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        self.count("insert_client");
        self.inner.insert_client(client).await
    }

    async fn client(&self, id: &ClientKey) -> Result<Option<ClientRecord>, StoreError> {
        self.count("client");
        self.inner.client(id).await
    }

    async fn client_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.count("client_by_client_id");
        self.inner.client_by_client_id(client_id).await
    }

    async fn clients(
        &self,
        account: Option<&AccountId>,
        page: &PageRequest,
    ) -> Result<Vec<Client>, StoreError> {
        self.count("clients");
        self.inner.clients(account, page).await
    }

    async fn update_client(
        &self,
        client: &Client,
        secret_hash: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.count("update_client");
        self.inner.update_client(client, secret_hash).await
    }

    async fn delete_client(&self, id: &ClientKey) -> Result<bool, StoreError> {
        self.count("delete_client");
        self.inner.delete_client(id).await
    }

    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<(), StoreError> {
        self.count("insert_api_key");
        self.inner.insert_api_key(key, key_hash).await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        self.count("api_key_by_hash");
        self.inner.api_key_by_hash(key_hash).await
    }

    async fn live_api_keys(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, ApiKey)>, StoreError> {
        self.count("live_api_keys");
        self.inner.live_api_keys(after, limit).await
    }

    async fn api_keys(&self, owner: &KeyOwner) -> Result<Vec<ApiKey>, StoreError> {
        self.count("api_keys");
        self.inner.api_keys(owner).await
    }

    async fn revoke_api_key(
        &self,
        owner: &KeyOwner,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.count("revoke_api_key");
        self.inner.revoke_api_key(owner, id, at).await
    }

    async fn touch_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<(), StoreError> {
        self.count("touch_api_key");
        self.inner.touch_api_key(id, at).await
    }

    async fn reserve_login_attempt(
        &self,
        keys: &[String],
        now_ms: i64,
        window_ms: i64,
        lock: fn(i64) -> i64,
    ) -> Result<bool, StoreError> {
        self.count("reserve_login_attempt");
        self.inner
            .reserve_login_attempt(keys, now_ms, window_ms, lock)
            .await
    }

    async fn clear_login_failures(&self, key_hash: &str) -> Result<(), StoreError> {
        self.count("clear_login_failures");
        self.inner.clear_login_failures(key_hash).await
    }

    async fn load_users(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<warden_core::store::Loaded<warden_core::store::LoadedUser>, StoreError> {
        self.count("load_users");
        self.inner.load_users(cursor, limit).await
    }

    async fn load_assignments(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<warden_core::store::Loaded<Assignment>, StoreError> {
        self.count("load_assignments");
        self.inner.load_assignments(cursor, limit).await
    }

    async fn load_resources(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<warden_core::store::Loaded<warden_core::store::LoadedResource>, StoreError> {
        self.count("load_resources");
        self.inner.load_resources(cursor, limit).await
    }

    async fn assignments_between(
        &self,
        first: &UserId,
        last: &UserId,
    ) -> Result<Vec<Assignment>, StoreError> {
        self.count("assignments_between");
        self.inner.assignments_between(first, last).await
    }

    async fn insert_policy(&self, policy: &Policy) -> Result<(), StoreError> {
        self.count("insert_policy");
        self.inner.insert_policy(policy).await
    }

    async fn policy(&self, id: &PolicyId) -> Result<Option<Policy>, StoreError> {
        self.count("policy");
        self.inner.policy(id).await
    }

    async fn policies(
        &self,
        filter: &PolicyFilter,
        page: &PageRequest,
    ) -> Result<Vec<Policy>, StoreError> {
        self.count("policies");
        self.inner.policies(filter, page).await
    }

    async fn update_policy(&self, policy: &Policy) -> Result<bool, StoreError> {
        self.count("update_policy");
        self.inner.update_policy(policy).await
    }

    async fn delete_policy(&self, id: &PolicyId) -> Result<bool, StoreError> {
        self.count("delete_policy");
        self.inner.delete_policy(id).await
    }

    async fn put_resources(
        &self,
        resources: &[warden_core::model::RegisteredResource],
    ) -> Result<Vec<bool>, StoreError> {
        self.count("put_resources");
        self.inner.put_resources(resources).await
    }

    async fn resource(
        &self,
        key: &str,
    ) -> Result<Option<warden_core::model::RegisteredResource>, StoreError> {
        self.count("resource");
        self.inner.resource(key).await
    }

    async fn resources(
        &self,
        filter: &warden_core::store::ResourceFilter,
        page: &PageRequest,
    ) -> Result<Vec<warden_core::model::RegisteredResource>, StoreError> {
        self.count("resources");
        self.inner.resources(filter, page).await
    }

    async fn delete_resource(&self, key: &str) -> Result<bool, StoreError> {
        self.count("delete_resource");
        self.inner.delete_resource(key).await
    }

    async fn change_head(&self) -> Result<i64, StoreError> {
        self.count("change_head");
        self.inner.change_head().await
    }

    async fn changes_after(
        &self,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<warden_core::authz::engine::Change>, StoreError> {
        self.count("changes_after");
        self.inner.changes_after(seq, limit).await
    }

    async fn prune_changes(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.count("prune_changes");
        self.inner.prune_changes(before_ms).await
    }

    async fn wait_for_changes(&self, timeout: std::time::Duration) {
        self.count("wait_for_changes");
        self.inner.wait_for_changes(timeout).await
    }

    async fn append_audit(&self, batch: &[warden_core::audit::Pending]) -> Result<(), StoreError> {
        self.count("append_audit");
        self.inner.append_audit(batch).await
    }

    async fn audit(
        &self,
        filter: &AuditFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<warden_core::audit::AuditRecord>, StoreError> {
        self.count("audit");
        self.inner.audit(filter, after, limit).await
    }
}
