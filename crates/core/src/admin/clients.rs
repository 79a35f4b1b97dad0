//! Service clients: created with a secret shown once and stored hashed, holding roles (never
//! beyond what their creator holds), an optional account, an IP allow-list and allowed grants.

use serde::{Deserialize, Serialize};

use super::sign_in::{self, SignInInput};
use crate::authz::{Access, Reach};
use crate::error::{DomainError, Problems};
use crate::identity::display_text;
use crate::ids::{AccountId, ClientKey, RoleId};
use crate::model::{Client, ClientRecord, ClientType, SignIn, Status};
use crate::page::{Page, PageRequest};
use crate::services::Services;
use crate::time::Timestamp;

/// Read clients.
pub const CLIENTS_READ: &str = "warden.clients:read";
/// Create clients.
pub const CLIENTS_CREATE: &str = "warden.clients:create";
/// Change clients (roles, allow-list, grants, status, secret).
pub const CLIENTS_UPDATE: &str = "warden.clients:update";
/// Delete clients.
pub const CLIENTS_DELETE: &str = "warden.clients:delete";

/// Grants a client may be allowed.
pub const GRANT_TYPES: &[&str] = &[
    "client_credentials",
    "password",
    "refresh_token",
    "authorization_code",
];

/// A new client.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    /// Name shown to people.
    pub name: String,
    /// The account it acts in, or `null` for a global client.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account_id: Option<AccountId>,
    /// Role ids it holds (global roles, or roles of its account).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub roles: Vec<RoleId>,
    /// CIDR blocks it may authenticate from; empty allows any address.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Allowed grants (default `["client_credentials"]`, or `["authorization_code",
    /// "refresh_token"]` for a public client or one with redirect URIs).
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// `confidential` (default: authenticates with its secret) or `public` (single-page and
    /// native apps: no secret, PKCE required). Fixed at creation.
    #[serde(default)]
    pub client_type: Option<String>,
    /// Where authorization codes may be delivered, matched exactly: `https`, `http` only to
    /// a loopback host, or a reverse-domain private-use scheme.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// Where RP-initiated logout may return, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// People signing in through it are not asked to consent (global administrators only).
    #[serde(default)]
    pub first_party: Option<bool>,
    /// Browser origins (`https://app.example.com`) allowed to call the token, userinfo,
    /// revocation and JWKS endpoints.
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
}

/// Changes to a client.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateClient {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Replaces the roles.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub roles: Option<Vec<RoleId>>,
    /// Replaces the allow-list.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
    /// Replaces the allowed grants.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// `confidential` (default: authenticates with its secret) or `public` (single-page and
    /// native apps: no secret, PKCE required). Fixed at creation.
    #[serde(default)]
    pub client_type: Option<String>,
    /// Where authorization codes may be delivered, matched exactly: `https`, `http` only to
    /// a loopback host, or a reverse-domain private-use scheme.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// Where RP-initiated logout may return, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// People signing in through it are not asked to consent (global administrators only).
    #[serde(default)]
    pub first_party: Option<bool>,
    /// Browser origins (`https://app.example.com`) allowed to call the token, userinfo,
    /// revocation and JWKS endpoints.
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// `active` or `disabled`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub status: Option<Status>,
}

/// A client with its secret, as answered once at creation or secret rotation.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientWithSecret {
    /// The client.
    #[serde(flatten)]
    pub client: Client,
    /// The secret: shown this once, stored only as a hash. A public client has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl CreateClient {
    fn sign_in(&mut self) -> SignInInput {
        SignInInput {
            client_type: self.client_type.take(),
            redirect_uris: self.redirect_uris.take(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.take(),
            first_party: self.first_party.take(),
            allowed_origins: self.allowed_origins.take(),
        }
    }
}

impl UpdateClient {
    fn sign_in(&mut self) -> SignInInput {
        SignInInput {
            client_type: self.client_type.take(),
            redirect_uris: self.redirect_uris.take(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.take(),
            first_party: self.first_party.take(),
            allowed_origins: self.allowed_origins.take(),
        }
    }
}

/// The grants asked for, checked. Without any: a client that signs people in (public, or with
/// redirect URIs) gets the code and refresh grants, a service client `client_credentials`.
fn parse_grants(
    problems: &mut Problems,
    texts: Option<Vec<String>>,
    signs_in: bool,
) -> Vec<String> {
    let texts = texts.unwrap_or_else(|| {
        if signs_in {
            vec!["authorization_code".into(), "refresh_token".into()]
        } else {
            vec!["client_credentials".into()]
        }
    });
    let mut out: Vec<String> = Vec::new();
    for (i, grant) in texts.into_iter().enumerate() {
        if !GRANT_TYPES.contains(&grant.as_str()) {
            problems.push(
                format!("grant_types[{i}]"),
                "must be `client_credentials`, `password`, `refresh_token` or `authorization_code`",
            );
        } else if !out.contains(&grant) {
            out.push(grant);
        }
    }
    out
}

/// A client never changes itself: its roles, allow-list, grants, secret and keys are changed,
/// and it is deleted, by someone else, as users never assign roles to themselves. This holds
/// through the client's own token and through its API keys, whatever permissions they carry.
fn not_itself(actor: &Access, id: &ClientKey) -> Result<(), DomainError> {
    if actor.client_key() == Some(*id) {
        return Err(DomainError::Forbidden(
            "a client cannot change or delete itself, its secret or its keys".into(),
        ));
    }
    Ok(())
}

/// Checks the roles exist in the client's scope and grant nothing the actor lacks there.
async fn check_roles(
    services: &Services,
    actor: &Access,
    roles: &[RoleId],
    account: Option<&AccountId>,
) -> Result<(), DomainError> {
    if roles.len() > 64 {
        return Err(DomainError::invalid("roles", "must list at most 64 roles"));
    }
    let graph = services
        .engine
        .roles_in_scope(&*services.store, account)
        .await?;
    let mut problems = Problems::default();
    for (i, role) in roles.iter().enumerate() {
        if graph.get(role).is_none() {
            problems.push(
                format!("roles[{i}]"),
                "no such role is visible here (global roles, or roles of the client's account)",
            );
        }
    }
    problems.finish()?;
    actor.require_covers(&graph.permissions(roles), account)
}

/// Creates a client and returns its secret once.
pub async fn create(
    services: &Services,
    actor: &Access,
    mut input: CreateClient,
) -> Result<ClientWithSecret, DomainError> {
    // Account administrators create clients in their own account.
    let account = super::account_for(
        actor.reach(CLIENTS_CREATE),
        input.account_id,
        CLIENTS_CREATE,
    )?;
    let granted = actor.require_scoped(CLIENTS_CREATE, account.as_ref())?;
    if let Some(account) = &account {
        services
            .store
            .account(account)
            .await?
            .ok_or(DomainError::NotFound("account"))?;
    }
    let mut problems = Problems::default();
    let name = problems.check("name", display_text(&input.name, 100));
    if name.as_deref() == Some("") {
        problems.push("name", "is required");
    }
    let allowed_ips = super::parse_ips(&mut problems, &input.allowed_ips);
    let requested = input.sign_in();
    let signs_in = requested.client_type.as_deref() == Some("public")
        || requested
            .redirect_uris
            .as_ref()
            .is_some_and(|uris| !uris.is_empty());
    let grant_types = parse_grants(&mut problems, input.grant_types.take(), signs_in);
    let may_skip_consent = actor.reach(CLIENTS_CREATE) == Reach::All;
    let sign_in = sign_in::apply(
        &mut problems,
        SignIn::default(),
        requested,
        &grant_types,
        true,
        may_skip_consent,
    );
    problems.finish()?;
    check_roles(services, actor, &input.roles, account.as_ref()).await?;
    let secret = crate::crypto::random_token();
    let now = Timestamp::now();
    let client = Client {
        id: ClientKey::new(),
        client_id: format!("wc_{}", &crate::crypto::random_token()[..20]),
        name: name.unwrap_or_default(),
        account_id: account,
        roles: input.roles,
        allowed_ips,
        grant_types,
        sign_in,
        status: Status::Active,
        created_at: now,
        updated_at: now,
    };
    let record = ClientRecord {
        client: client.clone(),
        secret_hash: crate::crypto::sha256_b64(secret.as_bytes()),
    };
    granted.store(services).insert_client(&record).await?;
    crate::admin::audit_change::<(), _>(
        services,
        &granted,
        "client.created",
        account,
        format!("client:{}", client.id),
        None,
        Some(&client),
    )
    .await;
    // A public client has no secret: the stored hash is of a value nobody was given.
    let client_secret = (client.sign_in.client_type == ClientType::Confidential).then_some(secret);
    Ok(ClientWithSecret {
        client,
        client_secret,
    })
}

async fn visible(
    services: &Services,
    actor: &Access,
    permission: &'static str,
    id: &ClientKey,
) -> Result<Client, DomainError> {
    let reach = actor.require_reach(permission)?.reach();
    let client = services
        .store
        .client(id)
        .await?
        .ok_or(DomainError::NotFound("client"))?
        .client;
    match (reach, client.account_id) {
        (Reach::Account(mine), owner) if owner != Some(mine) => {
            Err(DomainError::NotFound("client"))
        }
        _ => Ok(client),
    }
}

/// Reads a client.
pub async fn get(
    services: &Services,
    actor: &Access,
    id: &ClientKey,
) -> Result<Client, DomainError> {
    visible(services, actor, CLIENTS_READ, id).await
}

/// Lists the clients the actor may see.
pub async fn list(
    services: &Services,
    actor: &Access,
    page: PageRequest,
) -> Result<Page<Client>, DomainError> {
    let account = match actor.require_reach(CLIENTS_READ)?.reach() {
        Reach::Account(mine) => Some(mine),
        Reach::All | Reach::Nowhere => None,
    };
    let rows = services.store.clients(account.as_ref(), &page).await?;
    let rows = rows.into_iter().map(|r| r.client).collect();
    Ok(Page::from_rows(rows, &page, |c| c.id.to_string()))
}

/// Updates a client; the actor must hold what the client holds, before and after.
pub async fn update(
    services: &Services,
    actor: &Access,
    id: &ClientKey,
    mut patch: UpdateClient,
) -> Result<Client, DomainError> {
    let mut client = visible(services, actor, CLIENTS_UPDATE, id).await?;
    let before = client.clone();
    let granted = actor.require_scoped(CLIENTS_UPDATE, client.account_id.as_ref())?;
    not_itself(actor, id)?;
    check_roles(services, actor, &client.roles, client.account_id.as_ref()).await?;
    let mut problems = Problems::default();
    let sign_in_patch = patch.sign_in();
    if let Some(name) = patch.name {
        client.name = problems
            .check("name", display_text(&name, 100))
            .unwrap_or_default();
    }
    if let Some(ips) = patch.allowed_ips {
        client.allowed_ips = super::parse_ips(&mut problems, &ips);
    }
    if let Some(grants) = patch.grant_types.take() {
        let public = client.sign_in.client_type == ClientType::Public;
        client.grant_types = parse_grants(&mut problems, Some(grants), public);
    }
    let may_skip_consent = actor.reach(CLIENTS_UPDATE) == Reach::All;
    client.sign_in = sign_in::apply(
        &mut problems,
        client.sign_in.clone(),
        sign_in_patch,
        &client.grant_types,
        false,
        may_skip_consent,
    );
    if let Some(status) = patch.status {
        client.status = status;
    }
    problems.finish()?;
    if let Some(roles) = patch.roles {
        check_roles(services, actor, &roles, client.account_id.as_ref()).await?;
        client.roles = roles;
    }
    client.updated_at = Timestamp::now();
    if !granted.store(services).update_client(&client, None).await? {
        return Err(DomainError::NotFound("client"));
    }
    crate::admin::audit_change(
        services,
        &granted,
        "client.updated",
        client.account_id,
        format!("client:{id}"),
        Some(&before),
        Some(&client),
    )
    .await;
    // A third-party application's tokens are held to what people allowed it; if it stops
    // being one, what it was given ends rather than gaining the rest.
    if third_party(&before) && !third_party(&client) {
        end_sessions_of(services, &client.client_id).await?;
    }
    Ok(client)
}

/// Replaces a client's secret; the old one stops working at once.
pub async fn rotate_secret(
    services: &Services,
    actor: &Access,
    id: &ClientKey,
) -> Result<ClientWithSecret, DomainError> {
    let mut client = visible(services, actor, CLIENTS_UPDATE, id).await?;
    let granted = actor.require_scoped(CLIENTS_UPDATE, client.account_id.as_ref())?;
    not_itself(actor, id)?;
    if client.sign_in.client_type == ClientType::Public {
        return Err(DomainError::Conflict(
            "a public client has no secret to rotate".into(),
        ));
    }
    check_roles(services, actor, &client.roles, client.account_id.as_ref()).await?;
    let secret = crate::crypto::random_token();
    client.updated_at = Timestamp::now();
    granted
        .store(services)
        .update_client(&client, Some(&crate::crypto::sha256_b64(secret.as_bytes())))
        .await?;
    let actor_name = crate::authz::actor_name(actor);
    crate::audit::note_durably(
        services,
        actor_name,
        "client.secret_rotated",
        client.account_id,
        format!("client:{id}"),
        serde_json::json!({}),
    )
    .await;
    Ok(ClientWithSecret {
        client,
        client_secret: Some(secret),
    })
}

/// Whether a client is a third-party application: it signs people in and is not first-party
/// (what the snapshot's client index holds as `third_party`).
fn third_party(client: &Client) -> bool {
    crate::authz::engine::is_third_party(client)
}

/// Ends every session opened through `client_id`, on this node before the answer leaves.
async fn end_sessions_of(services: &Services, client_id: &str) -> Result<(), DomainError> {
    if services
        .store
        .end_client_sessions(client_id, crate::time::Timestamp::now())
        .await?
        > 0
    {
        services.engine.catch_up(services.store.as_ref()).await?;
    }
    Ok(())
}

/// Deletes a client.
pub async fn delete(
    services: &Services,
    actor: &Access,
    id: &ClientKey,
) -> Result<(), DomainError> {
    let client = visible(services, actor, CLIENTS_DELETE, id).await?;
    let granted = actor.require_scoped(CLIENTS_DELETE, client.account_id.as_ref())?;
    not_itself(actor, id)?;
    if granted.store(services).delete_client(id).await? {
        // Tokens people got through it die with it.
        end_sessions_of(services, &client.client_id).await?;
        crate::admin::audit_change::<_, ()>(
            services,
            &granted,
            "client.deleted",
            client.account_id,
            format!("client:{id}"),
            Some(&client),
            None,
        )
        .await;
        Ok(())
    } else {
        Err(DomainError::NotFound("client"))
    }
}

/// Creates an API key owned by a client: it acts as the client, through only the roles it
/// names, which must be the client's and held by the actor too.
pub async fn create_key(
    services: &Services,
    actor: &Access,
    id: &ClientKey,
    input: crate::admin::api_keys::CreateApiKey,
) -> Result<crate::admin::api_keys::ApiKeyWithSecret, DomainError> {
    let client = visible(services, actor, CLIENTS_UPDATE, id).await?;
    let granted = actor.require_scoped(CLIENTS_UPDATE, client.account_id.as_ref())?;
    not_itself(actor, id)?;
    if actor.via_api_key() {
        return Err(DomainError::Forbidden(
            "an API key cannot create API keys".into(),
        ));
    }
    if let Some(role) = input.roles.iter().find(|r| !client.roles.contains(r)) {
        return Err(DomainError::invalid(
            "roles",
            format!("`{role}` is not a role of this client; a key never exceeds its owner"),
        ));
    }
    check_roles(services, actor, &input.roles, client.account_id.as_ref()).await?;
    let owner = crate::model::KeyOwner::Client(client.id);
    crate::admin::api_keys::create_for(services, &granted, owner, client.account_id, input).await
}

/// A client's API keys.
pub async fn list_keys(
    services: &Services,
    actor: &Access,
    id: &ClientKey,
) -> Result<Vec<crate::model::ApiKey>, DomainError> {
    let client = visible(services, actor, CLIENTS_READ, id).await?;
    Ok(services
        .store
        .api_keys(&crate::model::KeyOwner::Client(client.id))
        .await?)
}

/// Revokes an API key of a client.
pub async fn revoke_key(
    services: &Services,
    actor: &Access,
    id: &ClientKey,
    key: &crate::ids::ApiKeyId,
) -> Result<(), DomainError> {
    let client = visible(services, actor, CLIENTS_UPDATE, id).await?;
    let granted = actor.require_scoped(CLIENTS_UPDATE, client.account_id.as_ref())?;
    not_itself(actor, id)?;
    if granted
        .store(services)
        .revoke_api_key(
            &crate::model::KeyOwner::Client(client.id),
            key,
            Timestamp::now(),
        )
        .await?
    {
        crate::audit::note_durably(
            services,
            crate::authz::actor_name(actor),
            "api_key.revoked",
            client.account_id,
            format!("api_key:{key}"),
            serde_json::json!({ "owner": format!("client:{id}") }),
        )
        .await;
        Ok(())
    } else {
        Err(DomainError::NotFound("API key"))
    }
}
