//! The entities of the identity model: users, accounts, memberships, roles, role assignments
//! and login sessions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::authz::permission::Permission;
use crate::identity::{AccountName, Email, RoleName, Username};
use crate::ids::{AccountId, ApiKeyId, ClientKey, PolicyId, RoleId, SessionId, UserId};
use crate::net::Cidr;
use crate::time::Timestamp;

/// Whether a user or account may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// May log in and act.
    Active,
    /// Refused everywhere; nothing is deleted.
    Disabled,
}

impl Status {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// Parses the stored or requested form.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            other => Err(format!(
                "`{}` is not a status: use `active` or `disabled`",
                crate::identity::clip(other)
            )),
        }
    }
}

/// A person who logs in. Never carries the password hash; see [`UserRecord`].
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Canonical email, unique.
    pub email: Email,
    /// Canonical username, unique when set.
    pub username: Option<Username>,
    /// The id another system knows the user by (SCIM `externalId`), unique when set: what an
    /// AuthZEN subject id or a gateway may name them by.
    pub external_id: Option<String>,
    /// Name shown to people.
    pub display_name: String,
    /// Phone number, free form.
    pub phone: Option<String>,
    /// Active or disabled.
    pub status: Status,
    /// Attributes for ABAC policies.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: Map<String, Value>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Last successful login.
    pub last_login_at: Option<Timestamp>,
}

/// A user as stored, with the password hash that never leaves the domain.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The user.
    pub user: User,
    /// argon2id PHC string; `None` for users that cannot log in with a password.
    pub password_hash: Option<String>,
}

/// A tenant.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// Unique slug.
    pub name: AccountName,
    /// Name shown to people.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Active or disabled; tokens are not issued for disabled accounts.
    pub status: Status,
    /// Attributes for ABAC policies.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: Map<String, Value>,
    /// Addresses tokens of this account may be issued to and its API keys used from; empty
    /// means any.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub allowed_ips: Vec<Cidr>,
    /// A Cedar schema (Cedar schema syntax) the account's policies must validate against.
    pub policy_schema: Option<String>,
    /// Whether signing in to this account takes a second factor (TOTP).
    #[serde(default)]
    pub require_second_factor: bool,
    /// When the account was last disabled: tokens issued in it until then stay dead after it
    /// is enabled again. Set by the store when the status turns to disabled.
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub tokens_valid_after: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// How long after an account's disabling its tokens still count as issued before it: room for
/// the clocks of the nodes, and for a grant that was checked just before the disabling
/// committed.
pub const DISABLE_MARGIN_MS: i64 = 2_000;

impl Account {
    /// Whether the account is active and a token issued at `issued_at` (seconds, a JWT
    /// `iat`) was issued after its last disabling.
    /// The cut-off carries [`DISABLE_MARGIN_MS`], since nodes' clocks differ a little.
    pub fn accepts_token_issued_at(&self, issued_at: i64) -> bool {
        self.status == Status::Active
            && self
                .tokens_valid_after
                .is_none_or(|cut| issued_at.saturating_mul(1000) > cut.millis() + DISABLE_MARGIN_MS)
    }
}

/// A user's membership of an account.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    /// The account.
    pub account_id: AccountId,
    /// The member.
    pub user_id: UserId,
    /// When the user joined.
    pub created_at: Timestamp,
}

/// A named set of permissions, global or scoped to one account, inheriting other roles.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Role {
    /// Id.
    pub id: RoleId,
    /// The owning account; `None` for a global role usable in every account.
    pub account_id: Option<AccountId>,
    /// Name, unique within its scope.
    pub name: RoleName,
    /// Description.
    pub description: String,
    /// Permissions granted directly.
    pub permissions: Vec<Permission>,
    /// Roles whose permissions this one inherits.
    pub inherits: Vec<RoleId>,
    /// Created at initialization (`super_admin`, `account_admin`, `member`); never deleted.
    pub builtin: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A role held by a user, in one account or globally.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignment {
    /// The holder.
    pub user_id: UserId,
    /// The role.
    pub role_id: RoleId,
    /// Where it applies; `None` for a global assignment.
    pub account_id: Option<AccountId>,
    /// When it was granted.
    pub created_at: Timestamp,
}

/// A login session: every token issued at login carries its id as `sid`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    /// Id.
    pub id: SessionId,
    /// The user.
    pub user_id: UserId,
    /// The account the session acts in.
    pub account_id: Option<AccountId>,
    /// The OAuth2 client used to log in.
    pub client_id: String,
    /// Started.
    pub created_at: Timestamp,
    /// Ended, if it was.
    pub ended_at: Option<Timestamp>,
    /// When it ends on its own (the refresh tokens' absolute lifetime).
    pub expires_at: Option<Timestamp>,
    /// The scope granted at login, which refreshes can narrow but never widen.
    pub scope: Option<String>,
    /// The browser session that opened this one (through an authorization code): ending it
    /// ends this one too.
    pub parent_id: Option<SessionId>,
    /// How the person authenticated (RFC 8176 values, space-separated), for browser sessions.
    pub amr: Option<String>,
    /// The OpenID Connect scopes granted (`openid profile email`), for sessions opened through
    /// an authorization code: what `/userinfo` answers.
    pub oidc_scope: Option<String>,
}

/// A refresh token as stored: only the SHA-256 of its value.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    /// Row id.
    pub id: String,
    /// The session it belongs to.
    pub session_id: SessionId,
    /// SHA-256 of the token value (unpadded base64url).
    pub token_hash: String,
    /// The client it was issued to; only that client may use it.
    pub client_id: String,
    /// Issued.
    pub created_at: Timestamp,
    /// Unusable after this (idle lifetime, capped by the session's absolute lifetime).
    pub expires_at: Timestamp,
    /// When it was exchanged for its successor.
    pub used_at: Option<Timestamp>,
    /// The successor's value sealed under the master key, for the grace window.
    pub successor_sealed: Option<String>,
}

/// A service client: a machine identity that logs in with `client_credentials`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Client {
    /// Internal id.
    pub id: ClientKey,
    /// Public identifier, used in HTTP Basic and as the token's `client_id`.
    pub client_id: String,
    /// Name shown to people.
    pub name: String,
    /// The account the client acts in; `None` for a global client.
    pub account_id: Option<AccountId>,
    /// Roles the client holds (in its account, or globally).
    pub roles: Vec<RoleId>,
    /// Addresses it may authenticate from; empty means any.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub allowed_ips: Vec<Cidr>,
    /// Grants it may use: `client_credentials`, `password`, `refresh_token`,
    /// `authorization_code`.
    pub grant_types: Vec<String>,
    /// How it signs people in from a browser or an app.
    #[serde(flatten)]
    pub sign_in: SignIn,
    /// Active or disabled.
    pub status: Status,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// Whether a client can keep a secret.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// A server-side application: authenticates with its secret.
    #[default]
    Confidential,
    /// A single-page or native app: no secret; PKCE is required.
    Public,
}

impl ClientType {
    /// The name, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

/// How a client signs people in from a browser or an app (OpenID Connect).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SignIn {
    /// `confidential` (with a secret) or `public` (no secret, PKCE required).
    pub client_type: ClientType,
    /// Where authorization codes may be delivered: matched exactly.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return: matched exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// Whether people signing in through it are not asked to consent.
    pub first_party: bool,
    /// Browser origins allowed to call the token, userinfo, revocation and JWKS endpoints.
    pub allowed_origins: Vec<String>,
}

/// A client as stored, with the hash of its secret.
#[derive(Clone)]
pub struct ClientRecord {
    /// The client.
    pub client: Client,
    /// SHA-256 of the secret (unpadded base64url).
    pub secret_hash: String,
}

/// The hash stays out of debug output: the record lives in every node's snapshot.
impl std::fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRecord")
            .field("client", &self.client)
            .field("secret_hash", &"<redacted>")
            .finish()
    }
}

/// Who owns an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    /// A user.
    User(UserId),
    /// A service client.
    Client(ClientKey),
}

/// An API key: a long-lived credential of a user or a service client, scoped to some of its
/// owner's roles.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    /// Id.
    pub id: ApiKeyId,
    /// Name shown to people.
    pub name: String,
    /// The key's first characters, to recognize it (the rest is never stored).
    pub prefix: String,
    /// The owner, when a user owns it.
    pub user_id: Option<UserId>,
    /// The owner, when a service client owns it.
    pub client_key: Option<ClientKey>,
    /// The account it acts in.
    pub account_id: Option<AccountId>,
    /// The roles it may use: always a subset of the owner's, checked again at every use.
    pub roles: Vec<RoleId>,
    /// Addresses it may be used from; empty means any.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub allowed_ips: Vec<Cidr>,
    /// Unusable after this.
    pub expires_at: Option<Timestamp>,
    /// Last accepted use (to the minute).
    pub last_used_at: Option<Timestamp>,
    /// Revoked at.
    pub revoked_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
}

/// An ABAC policy: Cedar text, global or in one account.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Policy {
    /// Its id.
    pub id: PolicyId,
    /// Its account; `None` for a global policy.
    pub account_id: Option<AccountId>,
    /// What it is for.
    pub description: String,
    /// The Cedar text: one or more `permit`/`forbid` statements.
    pub cedar: String,
    /// Whether it takes part in decisions.
    pub enabled: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A reference to an entity: its type and id.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntityRef {
    /// Cedar entity type, such as `document` or `Folder`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The entity's id.
    pub id: String,
}

/// A resource registered with Warden: its attributes and parents, which a decision on it uses
/// even when the asker sends only its type and id (a proxy, a gateway). Global (`account_id`
/// `None`) or in one account; the same type and id may exist in two accounts.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisteredResource {
    /// Its account; `None` for a global resource.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<AccountId>,
    /// Its Cedar entity type (`document`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id within the type.
    pub id: String,
    /// Attributes policies read (`resource.owner_id`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: Map<String, Value>,
    /// Parent entities (`resource in folder::"f1"`).
    pub parents: Vec<EntityRef>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl RegisteredResource {
    /// The key a resource is stored and found under: scope, type and id, joined by line
    /// feeds (which none of them may hold).
    pub fn key_of(account: Option<&AccountId>, kind: &str, id: &str) -> String {
        let scope = account.map(ToString::to_string).unwrap_or_default();
        format!("{scope}\n{kind}\n{id}")
    }

    /// This resource's key.
    pub fn key(&self) -> String {
        Self::key_of(self.account_id.as_ref(), &self.kind, &self.id)
    }
}
