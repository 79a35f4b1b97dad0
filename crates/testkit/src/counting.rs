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

/// Implements [`Store`] for [`CountingStore`]: every method counts its call, then asks the
/// inner store.
macro_rules! counted {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) $(-> $ret:ty)?;)*) => {
        #[async_trait]
        impl Store for CountingStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) $(-> $ret)? {
                    self.count(stringify!($name));
                    self.inner.$name($($arg),*).await
                }
            )*
        }
    };
}

counted! {
    fn ping(&self) -> Result<(), StoreError>;
    fn initialize(&self, bootstrap: &Bootstrap) -> Result<bool, StoreError>;
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    fn rotate_keys(&self, next: &KeyRecord, retire_at: Timestamp) -> Result<(), StoreError>;
    fn insert_user(&self, user: &UserRecord, member_of: Option<&AccountId>) -> Result<(), StoreError>;
    fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError>;
    fn user_by_login(&self, login: &str) -> Result<Option<UserRecord>, StoreError>;
    fn users(&self, filter: &UserFilter, page: &PageRequest) -> Result<Vec<User>, StoreError>;
    fn update_user(&self, user: &User) -> Result<bool, StoreError>;
    fn set_password(&self, id: &UserId, hash: &str, at: Timestamp, keep: Option<&SessionId>) -> Result<bool, StoreError>;
    fn delete_user(&self, id: &UserId) -> Result<bool, StoreError>;
    fn insert_account(&self, account: &Account) -> Result<(), StoreError>;
    fn account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    fn account_by_name(&self, name: &AccountName) -> Result<Option<Account>, StoreError>;
    fn accounts(&self, filter: &AccountFilter, page: &PageRequest) -> Result<Vec<Account>, StoreError>;
    fn update_account(&self, account: &Account) -> Result<bool, StoreError>;
    fn delete_account(&self, id: &AccountId) -> Result<bool, StoreError>;
    fn add_member(&self, membership: &Membership) -> Result<(), StoreError>;
    fn remove_member(&self, account: &AccountId, user: &UserId) -> Result<bool, StoreError>;
    fn members(&self, account: &AccountId, page: &PageRequest) -> Result<Vec<Membership>, StoreError>;
    fn memberships(&self, user: &UserId) -> Result<Vec<AccountId>, StoreError>;
    fn insert_role(&self, role: &Role) -> Result<(), StoreError>;
    fn role(&self, id: &RoleId) -> Result<Option<Role>, StoreError>;
    fn roles(&self, filter: &RoleFilter, page: &PageRequest) -> Result<Vec<Role>, StoreError>;
    fn roles_in_scope(&self, account: Option<&AccountId>) -> Result<Vec<Role>, StoreError>;
    fn update_role(&self, role: &Role) -> Result<bool, StoreError>;
    fn delete_role(&self, id: &RoleId) -> Result<bool, StoreError>;
    fn insert_assignment(&self, assignment: &Assignment) -> Result<(), StoreError>;
    fn delete_assignment(&self, user: &UserId, role: &RoleId, account: Option<&AccountId>, keep_one: bool) -> Result<bool, StoreError>;
    fn assignments(&self, user: &UserId) -> Result<Vec<Assignment>, StoreError>;
    fn open_login(&self, login: &NewLogin<'_>) -> Result<bool, StoreError>;
    fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;
    fn active_sessions(&self, user: &UserId) -> Result<Vec<Session>, StoreError>;
    fn active_sessions_page(&self, user: &UserId, account: Option<&AccountId>, page: &PageRequest) -> Result<Vec<Session>, StoreError>;
    fn end_oldest_sessions(&self, user: &UserId, keep: u32, at: Timestamp) -> Result<Vec<Session>, StoreError>;
    fn end_session(&self, id: &SessionId, at: Timestamp) -> Result<bool, StoreError>;
    fn end_sessions(&self, user: &UserId, keep: Option<&SessionId>, at: Timestamp) -> Result<u64, StoreError>;
    fn ended_sessions(&self, since_ms: i64, until_ms: i64, after: Option<(i64, String)>, limit: i64, account: Option<&AccountId>) -> Result<Vec<(SessionId, Timestamp)>, StoreError>;
    fn refresh_by_hash(&self, hash: &str) -> Result<Option<RefreshToken>, StoreError>;
    fn rotate_refresh(&self, used: &RefreshToken, at: Timestamp, successor_sealed: &str, successor: &RefreshToken) -> Result<bool, StoreError>;
    fn end_client_sessions(&self, client_id: &str, at: Timestamp) -> Result<u64, StoreError>;
    fn adopt_sessions(&self, from: &SessionId, to: &SessionId) -> Result<u64, StoreError>;
    fn consent(&self, user: &UserId, client_id: &str) -> Result<Option<Consent>, StoreError>;
    fn add_consent(&self, user: &UserId, client_id: &str, values: &[String], at: Timestamp) -> Result<Consent, StoreError>;
    fn consents(&self, user: &UserId) -> Result<Vec<Consent>, StoreError>;
    fn delete_consent(&self, user: &UserId, client_id: &str) -> Result<bool, StoreError>;
    fn totp_factor(&self, user: &UserId) -> Result<Option<TotpFactor>, StoreError>;
    fn put_pending_totp(&self, user: &UserId, secret_sealed: &str, at: Timestamp) -> Result<bool, StoreError>;
    fn confirm_totp(&self, user: &UserId, secret_sealed: &str, step: i64, at: Timestamp, recovery_hashes: &[String]) -> Result<bool, StoreError>;
    fn use_totp_step(&self, user: &UserId, step: i64) -> Result<bool, StoreError>;
    fn use_recovery_code(&self, user: &UserId, code_hash: &str, at: Timestamp) -> Result<bool, StoreError>;
    fn delete_totp(&self, user: &UserId) -> Result<bool, StoreError>;
    fn insert_code(&self, code: &StoredCode) -> Result<(), StoreError>;
    fn take_code(&self, code_hash: &str, at: Timestamp) -> Result<CodeUse, StoreError>;
    fn code_replayed(&self, code_hash: &str) -> Result<bool, StoreError>;
    fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    fn client(&self, id: &ClientKey) -> Result<Option<ClientRecord>, StoreError>;
    fn client_by_client_id(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    fn clients(&self, account: Option<&AccountId>, page: &PageRequest) -> Result<Vec<ClientRecord>, StoreError>;
    fn update_client(&self, client: &Client, secret_hash: Option<&str>) -> Result<bool, StoreError>;
    fn delete_client(&self, id: &ClientKey) -> Result<bool, StoreError>;
    fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<(), StoreError>;
    fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    fn live_api_keys(&self, after: Option<&str>, limit: u32) -> Result<Vec<(String, ApiKey)>, StoreError>;
    fn api_keys(&self, owner: &KeyOwner) -> Result<Vec<ApiKey>, StoreError>;
    fn revoke_api_key(&self, owner: &KeyOwner, id: &ApiKeyId, at: Timestamp) -> Result<bool, StoreError>;
    fn touch_api_key(&self, id: &ApiKeyId, at: Timestamp) -> Result<(), StoreError>;
    fn reserve_login_attempt(&self, keys: &[String], now_ms: i64, window_ms: i64, lock: fn(i64) -> i64) -> Result<bool, StoreError>;
    fn clear_login_failures(&self, key_hash: &str) -> Result<(), StoreError>;
    fn load_users(&self, cursor: Option<&str>, limit: u32) -> Result<warden_core::store::Loaded<warden_core::store::LoadedUser>, StoreError>;
    fn load_assignments(&self, cursor: Option<&str>, limit: u32) -> Result<warden_core::store::Loaded<Assignment>, StoreError>;
    fn load_resources(&self, cursor: Option<&str>, limit: u32) -> Result<warden_core::store::Loaded<warden_core::store::LoadedResource>, StoreError>;
    fn assignments_between(&self, first: &UserId, last: &UserId) -> Result<Vec<Assignment>, StoreError>;
    fn insert_policy(&self, policy: &Policy) -> Result<(), StoreError>;
    fn policy(&self, id: &PolicyId) -> Result<Option<Policy>, StoreError>;
    fn policies(&self, filter: &PolicyFilter, page: &PageRequest) -> Result<Vec<Policy>, StoreError>;
    fn update_policy(&self, policy: &Policy) -> Result<bool, StoreError>;
    fn delete_policy(&self, id: &PolicyId) -> Result<bool, StoreError>;
    fn put_resources(&self, resources: &[warden_core::model::RegisteredResource]) -> Result<Vec<bool>, StoreError>;
    fn resource(&self, key: &str) -> Result<Option<warden_core::model::RegisteredResource>, StoreError>;
    fn resources(&self, filter: &warden_core::store::ResourceFilter, page: &PageRequest) -> Result<Vec<warden_core::model::RegisteredResource>, StoreError>;
    fn delete_resource(&self, key: &str) -> Result<bool, StoreError>;
    fn change_head(&self) -> Result<i64, StoreError>;
    fn changes_after(&self, seq: i64, limit: i64) -> Result<Vec<warden_core::authz::engine::Change>, StoreError>;
    fn prune_changes(&self, before_ms: i64) -> Result<u64, StoreError>;
    fn wait_for_changes(&self, timeout: std::time::Duration);
    fn append_audit(&self, batch: &[warden_core::audit::Pending]) -> Result<(), StoreError>;
    fn audit(&self, filter: &AuditFilter, after: i64, limit: i64) -> Result<Vec<warden_core::audit::AuditRecord>, StoreError>;
}
