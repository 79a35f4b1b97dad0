//! Signing-key rotation: the next key is published at once and signs only once every verifier
//! has had time to fetch it (the JWKS cache lifetime); the old key stays published until every
//! token it signed has expired.

use serde::Serialize;

use crate::authz::Access;
use crate::error::DomainError;
use crate::services::Services;
use crate::time::Timestamp;
use crate::tokens::{keys_generate, KeyRecord, KeySet, SigningAlgorithm, LEEWAY_SECONDS};

/// Read the signing keys' states.
pub const KEYS_READ: &str = "warden.keys:read";
/// Rotate the signing keys.
pub const KEYS_ROTATE: &str = "warden.keys:rotate";

/// A signing key's public facts and state.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyInfo {
    /// Key id (`kid`).
    pub kid: String,
    /// Algorithm.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub alg: SigningAlgorithm,
    /// `next` (published, not signing yet), `active` (signing), `retiring` (published for
    /// verification only) or `retired` (no longer published).
    pub state: &'static str,
    /// Created.
    pub created_at: Timestamp,
    /// Signs from.
    pub activate_at: Timestamp,
    /// Unpublished from.
    pub retire_at: Option<Timestamp>,
}

fn describe(records: &[KeyRecord], now: Timestamp) -> Vec<KeyInfo> {
    let signer = records
        .iter()
        .filter(|r| r.activate_at <= now && r.retire_at.is_none_or(|t| t > now))
        .max_by_key(|r| r.activate_at)
        .map(|r| r.kid.clone());
    records
        .iter()
        .map(|r| KeyInfo {
            kid: r.kid.clone(),
            alg: r.alg,
            state: if r.retire_at.is_some_and(|t| t <= now) {
                "retired"
            } else if r.activate_at > now {
                "next"
            } else if Some(&r.kid) == signer.as_ref() {
                "active"
            } else {
                "retiring"
            },
            created_at: r.created_at,
            activate_at: r.activate_at,
            retire_at: r.retire_at,
        })
        .collect()
}

/// Every key and its state.
pub async fn list(services: &Services, actor: &Access) -> Result<Vec<KeyInfo>, DomainError> {
    actor.require(KEYS_READ, None)?;
    Ok(describe(&services.store.keys().await?, Timestamp::now()))
}

/// Publishes a new key now, signing from `now + jwks_cache_ttl`; current keys retire once the
/// last token they may sign has expired.
pub async fn rotate(
    services: &Services,
    actor: &Access,
    algorithm: Option<SigningAlgorithm>,
) -> Result<KeyInfo, DomainError> {
    let granted = actor.require(KEYS_ROTATE, None)?;
    let now = Timestamp::now();
    let settings = &services.settings;
    let activate_at = now.plus_seconds(settings.jwks_cache_ttl);
    let retire_at = activate_at.plus_seconds(settings.access_token_ttl + LEEWAY_SECONDS);
    let next = keys_generate(
        algorithm.unwrap_or(settings.signing_algorithm),
        &services.sealer,
        now,
        activate_at,
    )?;
    granted
        .store(services)
        .rotate_keys(&next, retire_at)
        .await?;
    let details = serde_json::json!({ "kid": next.kid, "alg": next.alg.as_str(), "activate_at": activate_at, "previous_retire_at": retire_at });
    let event = crate::audit::Event {
        actor: crate::authz::actor_name(actor),
        action: "key.rotated",
        account: None,
        target: Some(format!("key:{}", next.kid)),
        details,
    };
    crate::audit::record_durably(services, event).await;
    reload(services).await?;
    tracing::info!(kid = %next.kid, activate_at = %activate_at.to_rfc3339(), "signing key rotation started");
    let records = services.store.keys().await?;
    describe(&records, now)
        .into_iter()
        .find(|k| k.kid == next.kid)
        .ok_or_else(|| DomainError::Internal("rotated key vanished".into()))
}

/// Reloads the key set from the store, so a rotation done by any node (or the CLI), and a
/// scheduled activation, reach this node.
pub async fn reload(services: &Services) -> Result<(), DomainError> {
    let records = services.store.keys().await?;
    services
        .tokens
        .replace_keys(KeySet::open(&records, &services.sealer, Timestamp::now())?);
    Ok(())
}
