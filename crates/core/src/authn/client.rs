//! OAuth2 client authentication (RFC 6749 §2.3). Warden's own first-party client (`warden`) is
//! public; service clients are confidential and authenticate with a secret, from an allowed
//! address, for the grants they are allowed.

use std::net::IpAddr;
use std::sync::Arc;

use crate::crypto::sha256_b64;
use crate::error::DomainError;
use crate::model::{Client, ClientRecord, Status};
use crate::oauth::GrantError;
use crate::services::{Services, DEFAULT_CLIENT_ID};

/// The client credentials a request presented.
#[derive(Debug, Default)]
pub enum Presented {
    /// None: the first-party public client.
    #[default]
    Nothing,
    /// A `client_id` without a secret.
    Public(String),
    /// A `client_id` with its secret (HTTP Basic or body).
    Secret {
        /// The client id.
        client_id: String,
        /// The secret.
        secret: String,
    },
}

/// Who the request comes from, once authenticated.
#[derive(Debug, Clone)]
pub enum ClientIdentity {
    /// Warden's first-party public client.
    FirstParty,
    /// A service client that proved its secret, with its account's address allow-list as read
    /// when it did, for the grant to apply.
    Confidential(Client, AccountAddresses),
    /// A registered public client (a single-page or native app), known by its id alone: it
    /// may use only the authorization code (with PKCE) and refresh grants.
    Public(Client),
}

/// The address allow-list of an authenticated client's account (empty: any address, or a
/// global client). Only [`authenticate`] makes one, so no identity built elsewhere can carry an
/// allow-list it did not read.
#[derive(Debug, Clone)]
pub struct AccountAddresses(Arc<[crate::net::Cidr]>);

impl AccountAddresses {
    /// Whether the account accepts tokens for `ip`.
    pub fn allow(&self, ip: IpAddr) -> bool {
        crate::net::allowed(&self.0, ip)
    }
}

impl ClientIdentity {
    /// The `client_id` that goes into tokens.
    pub fn client_id(&self) -> &str {
        match self {
            Self::FirstParty => DEFAULT_CLIENT_ID,
            Self::Confidential(client, _) | Self::Public(client) => &client.client_id,
        }
    }

    /// The registered client, unless this is Warden's own first-party client.
    pub fn registered(&self) -> Option<&Client> {
        match self {
            Self::FirstParty => None,
            Self::Confidential(client, _) | Self::Public(client) => Some(client),
        }
    }

    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: &str) -> bool {
        self.require_grant(grant).is_ok()
    }

    /// Refuses unless the client may use `grant`.
    pub fn require_grant(&self, grant: &str) -> Result<(), GrantError> {
        match self {
            Self::FirstParty if grant != "client_credentials" => Ok(()),
            Self::FirstParty => Err(GrantError::InvalidClient),
            Self::Confidential(client, _) | Self::Public(client)
                if client.grant_types.iter().any(|g| g == grant) =>
            {
                Ok(())
            }
            Self::Confidential(..) | Self::Public(_) => Err(GrantError::UnauthorizedClient(
                format!("this client may not use the `{grant}` grant"),
            )),
        }
    }
}

/// Authenticates the presented credentials from `ip`. Every failure answers the same
/// `invalid_client`; why is in the log line and in the `client.authentication_failed` audit
/// record, never in the answer.
pub async fn authenticate(
    services: &Services,
    presented: Presented,
    ip: IpAddr,
) -> Result<ClientIdentity, GrantError> {
    let (client_id, secret) = match presented {
        Presented::Nothing => return Ok(ClientIdentity::FirstParty),
        Presented::Public(id) if id == DEFAULT_CLIENT_ID => return Ok(ClientIdentity::FirstParty),
        Presented::Public(client_id) => return authenticate_public(services, &client_id, ip).await,
        Presented::Secret { client_id, secret } => (client_id, secret),
    };
    if client_id.len() > 128
        || secret.len() > 512
        || client_id.chars().any(crate::identity::is_invisible)
    {
        tracing::info!("client authentication failed: malformed credentials");
        return Err(refused(services, None, "malformed_credentials").await);
    }
    let presented_hash = sha256_b64(secret.as_bytes());
    let record = registered(services, &client_id, Some(&presented_hash)).await?;
    // Compare hashes in constant time; an unknown client compares against a fixed value.
    let stored_hash = record
        .as_ref()
        .map_or_else(|| sha256_b64(b"no such client"), |r| r.secret_hash.clone());
    let matches = aws_lc_rs::constant_time::verify_slices_are_equal(
        presented_hash.as_bytes(),
        stored_hash.as_bytes(),
    )
    .is_ok();
    let record = match record {
        Some(record) if matches => Arc::unwrap_or_clone(record),
        // Only an existing client's id is logged as is.
        Some(known) => {
            tracing::info!(client_id = %known.client.client_id, "client authentication failed: wrong secret");
            return Err(refused(services, Some(&known.client), "wrong_secret").await);
        }
        None => return Err(unknown_client(services, &client_id).await),
    };
    if record.client.sign_in.client_type != crate::model::ClientType::Confidential {
        tracing::info!(client_id = %record.client.client_id, "a public client presented a secret");
        return Err(refused(services, Some(&record.client), "public_client_secret").await);
    }
    let account_addresses = usable(services, &record.client, ip).await?;
    Ok(ClientIdentity::Confidential(
        record.client,
        AccountAddresses(account_addresses),
    ))
}

/// A `client_id` presented without a secret: Warden's own client, or a registered public one.
/// A confidential client's id alone authenticates nothing.
async fn authenticate_public(
    services: &Services,
    client_id: &str,
    ip: IpAddr,
) -> Result<ClientIdentity, GrantError> {
    if client_id.len() > 128 || client_id.chars().any(crate::identity::is_invisible) {
        tracing::info!("client authentication failed: malformed client id");
        return Err(refused(services, None, "malformed_credentials").await);
    }
    let client = match registered(services, client_id, None).await? {
        Some(record) if record.client.sign_in.client_type == crate::model::ClientType::Public => {
            Arc::unwrap_or_clone(record).client
        }
        Some(confidential) => {
            tracing::info!(client_id = %confidential.client.client_id, "a confidential client presented no secret");
            return Err(refused(services, Some(&confidential.client), "secret_missing").await);
        }
        None => return Err(unknown_client(services, client_id).await),
    };
    usable(services, &client, ip).await?;
    Ok(ClientIdentity::Public(client))
}

/// How recently the snapshot must have caught up with the change log for client authentication
/// to trust it (the store decides otherwise): the accounts' disabling margin, so a client token
/// issued from a stale entry of a just-disabled account falls inside the margin and is dead,
/// and a change that a node failed to apply after its own write is honoured for no longer.
const SNAPSHOT_TRUSTED_FOR: std::time::Duration =
    std::time::Duration::from_millis(crate::model::DISABLE_MARGIN_MS as u64);

/// The client registered as `client_id`, with its secret hash. Taken from the snapshot when it
/// is fresh and its entry is active and agrees with the presented secret's hash (when one was
/// presented); from the store otherwise. So a client created, re-keyed or re-enabled through
/// another node or the CLI is known at once, and the store is read only when the snapshot
/// would refuse; a client disabled or re-keyed there is honoured until this node's change feed
/// catches up (within its change-log poll, and never past [`SNAPSHOT_TRUSTED_FOR`]).
async fn registered(
    services: &Services,
    client_id: &str,
    presented_hash: Option<&str>,
) -> Result<Option<Arc<ClientRecord>>, DomainError> {
    if services.engine.is_fresh(SNAPSHOT_TRUSTED_FOR) {
        let snapshot = services.engine.snapshot();
        if let Some(entry) = snapshot.clients.by_client_id(client_id) {
            let agrees = presented_hash.is_none_or(|presented| {
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    presented.as_bytes(),
                    entry.record.secret_hash.as_bytes(),
                )
                .is_ok()
            });
            if entry.active && agrees {
                return Ok(Some(Arc::clone(&entry.record)));
            }
        }
    }
    Ok(services
        .store
        .client_by_client_id(client_id)
        .await?
        .map(Arc::new))
}

/// Audits a refused client authentication (`client.authentication_failed`, with why) and
/// answers the one error every refusal gives. Anyone can repeat a refusal at will, so
/// identical ones within the coalescing window are one record with their count, as denials
/// are. An unknown id is not recorded (its hash is in the log line): anyone can present new
/// ids at will, and each would be a record of its own.
async fn refused(services: &Services, client: Option<&Client>, reason: &str) -> GrantError {
    let details = serde_json::json!({ "reason": reason });
    let event = crate::audit::Event {
        actor: "anonymous".into(),
        action: "client.authentication_failed",
        account: client.and_then(|c| c.account_id),
        target: client.map(|c| format!("client:{}", c.client_id)),
        details,
    };
    crate::audit::record_repeated(services, event, 1).await;
    GrantError::InvalidClient
}

/// Refuses an id no client has. People type secrets into the client
/// id field, so the id is logged as a hash, as login identifiers are, and the refusal is
/// audited without it.
async fn unknown_client(services: &Services, client_id: &str) -> GrantError {
    let client_id_sha256 = sha256_b64(format!("client:{client_id}").as_bytes());
    tracing::info!(%client_id_sha256, "client authentication failed: no such client");
    refused(services, None, "unknown_client").await
}

/// Refuses a client that is disabled, belongs to a disabled account, or is used from outside
/// its address allow-list; answers its account's allow-list (empty for a global client), read
/// once here so the grant need not read the account again.
async fn usable(
    services: &Services,
    client: &Client,
    ip: IpAddr,
) -> Result<Arc<[crate::net::Cidr]>, GrantError> {
    if client.status != Status::Active {
        tracing::info!(client_id = %client.client_id, "disabled client refused");
        return Err(refused(services, Some(client), "client_disabled").await);
    }
    let Some(account_addresses) = active_account(services, client.account_id.as_ref()).await?
    else {
        tracing::info!(client_id = %client.client_id, "client of a disabled account refused");
        return Err(refused(services, Some(client), "account_disabled").await);
    };
    if !crate::net::allowed(&client.allowed_ips, ip) {
        tracing::info!(client_id = %client.client_id, %ip, "client refused from an address outside its allow-list");
        return Err(refused(services, Some(client), "address_refused").await);
    }
    Ok(account_addresses)
}

/// The allow-list of a client's account (empty, any address, for a global client), or `None`
/// when the account is missing or disabled: a disabled account's clients cannot authenticate
/// at all, for any grant or for introspection. An account the fresh snapshot holds as active
/// is taken from it; the store decides otherwise, as for the client itself.
async fn active_account(
    services: &Services,
    account: Option<&crate::ids::AccountId>,
) -> Result<Option<Arc<[crate::net::Cidr]>>, DomainError> {
    let Some(account) = account else {
        return Ok(Some(Arc::from(Vec::new())));
    };
    if services.engine.is_fresh(SNAPSHOT_TRUSTED_FOR) {
        if let Some(entry) = services.engine.snapshot().accounts.get(account) {
            if entry.active {
                return Ok(Some(Arc::clone(&entry.allowed_ips)));
            }
        }
    }
    Ok(services
        .store
        .account(account)
        .await?
        .filter(|a| a.status == Status::Active)
        .map(|a| a.allowed_ips.into()))
}
