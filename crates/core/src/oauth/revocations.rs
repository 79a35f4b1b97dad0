//! The revocation feed: ended sessions, each listed until the last access token it may have
//! issued expires, so verifiers that follow the feed refuse revoked tokens without a call per
//! request. A tenant's verifier reads its own account's endings only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use crate::authz::permission::builtin::SESSIONS_READ;
use crate::authz::{Access, Reach};
use crate::error::DomainError;
use crate::ids::{AccountId, SessionId};
use crate::model::Client;
use crate::services::Services;
use crate::time::Timestamp;
use crate::tokens::LEEWAY_SECONDS;

/// How long an ending settles before the feed lists it: a session's `ended_at` is taken when
/// its request starts, so a slow commit could otherwise land behind a poller's cursor.
pub const SETTLE_SECONDS: i64 = 2;

/// One revoked session.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revocation {
    /// The session id: refuse tokens whose `sid` is this.
    pub sid: SessionId,
    /// When it ended.
    pub ended_at: Timestamp,
    /// When the last access token of it expires; forget the entry after this.
    pub expires_at: Timestamp,
}

/// A page of the feed; `next_cursor` is always set, to poll from.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Feed {
    /// Revocations since the cursor, oldest first.
    pub items: Vec<Revocation>,
    /// Where the next poll starts.
    pub next_cursor: String,
}

/// Who reads the feed, and so which endings it sees: only values made from an authenticated
/// caller exist.
#[derive(Debug, Clone, Copy)]
pub struct Reader {
    /// `None`: every account's endings (and those of sessions in no account).
    account: Option<AccountId>,
}

impl Reader {
    /// A service client that proved its secret: its account's endings, or every ending for a
    /// global client.
    pub fn client(client: &Client) -> Self {
        Self {
            account: client.account_id,
        }
    }

    /// A caller holding `warden.sessions:read` globally: every ending.
    pub fn administrator(actor: &Access) -> Result<Self, DomainError> {
        match actor.reach(SESSIONS_READ) {
            Reach::All => Ok(Self { account: None }),
            Reach::Account(_) | Reach::Nowhere => Err(DomainError::Forbidden(format!(
                "this needs the permission `{SESSIONS_READ}` globally"
            ))),
        }
    }
}

fn encode(ended_ms: i64, sid: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{ended_ms}:{sid}"))
}

fn decode(cursor: &str) -> Result<(i64, String), DomainError> {
    let bad = || DomainError::invalid("since", "is not a cursor of this feed");
    let text =
        String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    let (ms, sid) = text.split_once(':').ok_or_else(bad)?;
    let ms: i64 = ms.parse().map_err(|_| bad())?;
    if !sid.is_empty() {
        SessionId::parse(sid).map_err(|_| bad())?;
    }
    Ok((ms, sid.to_owned()))
}

/// Reads the feed from `since` (absent: every revocation whose tokens may still be alive), as
/// far as `reader` sees.
pub async fn feed(
    services: &Services,
    reader: Reader,
    since: Option<&str>,
    limit: u32,
) -> Result<Feed, DomainError> {
    if !(1..=1000).contains(&limit) {
        return Err(DomainError::invalid("limit", "must be between 1 and 1000"));
    }
    let now = Timestamp::now();
    let lifetime = services.settings.access_token_ttl + LEEWAY_SECONDS;
    let horizon = now.plus_seconds(-lifetime).millis();
    let after = since.filter(|s| !s.is_empty()).map(decode).transpose()?;
    let until = now.plus_seconds(-SETTLE_SECONDS).millis();
    let rows = services
        .store
        .ended_sessions(
            horizon,
            until,
            after.clone(),
            i64::from(limit),
            reader.account.as_ref(),
        )
        .await?;
    let next_cursor = match rows.last() {
        Some((sid, ended)) => encode(ended.millis(), &sid.to_string()),
        None => match &after {
            Some((ms, sid)) => encode(*ms, sid),
            None => encode(horizon, ""),
        },
    };
    let items = rows
        .into_iter()
        .map(|(sid, ended_at)| Revocation {
            sid,
            ended_at,
            expires_at: ended_at.plus_seconds(lifetime),
        })
        .collect();
    Ok(Feed { items, next_cursor })
}
