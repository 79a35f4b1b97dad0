//! Following Warden's revocation feed (`GET /v1/revocations`) in a background task, so tokens
//! of ended sessions are refused without a call per request.
//!
//! The feed lists ended sessions, each until the last access token it may have issued
//! expires. Reading it takes a service client's credentials (HTTP Basic): a client of an
//! account sees that account's endings only, a global client every ending. Warden lists an
//! ending about two seconds after it happens; with the poll interval, that is how late a
//! revocation lands here. While the feed cannot be read, the last list stays in force.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::http::{header, StatusCode};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::http::read_limited;

/// Entries asked for per page, Warden's maximum.
const PAGE: usize = 1000;

#[derive(Deserialize)]
struct Page {
    items: Vec<Item>,
    next_cursor: String,
}

#[derive(Deserialize)]
struct Item {
    sid: String,
    expires_at: String,
}

/// The ended sessions known so far, and the feed position.
pub(crate) struct Revocations {
    url: String,
    authorization: String,
    /// Entries are kept this long past their `expires_at` (the verifier's leeway).
    retain: i64,
    revoked: Mutex<HashMap<String, i64>>,
    cursor: Mutex<Option<String>>,
    ready: watch::Sender<bool>,
    polls: AtomicU64,
}

impl Revocations {
    /// A follower of the feed at `url`, authenticated by the `Authorization` value given.
    pub(crate) fn new(url: String, authorization: String, retain: i64) -> Self {
        Self {
            url,
            authorization,
            retain,
            revoked: Mutex::new(HashMap::new()),
            cursor: Mutex::new(None),
            ready: watch::Sender::new(false),
            polls: AtomicU64::new(0),
        }
    }

    /// Whether the session `sid` is known to have ended.
    pub(crate) fn is_revoked(&self, sid: &str) -> bool {
        self.revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(sid)
    }

    /// How many ended sessions are known.
    pub(crate) fn len(&self) -> usize {
        self.revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// How many polls completed.
    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for the first poll to finish (or fail); whether it has.
    pub(crate) async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut ready = self.ready.subscribe();
        if *ready.borrow() {
            return true;
        }
        tokio::time::timeout(timeout, ready.wait_for(|done| *done))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }

    /// Reads the feed from the last cursor to its end and forgets expired entries.
    pub(crate) async fn poll(&self, http: &reqwest::Client) -> Result<(), String> {
        loop {
            let cursor = self
                .cursor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut request = http
                .get(&self.url)
                .header(header::AUTHORIZATION, &self.authorization)
                .query(&[("limit", PAGE.to_string())]);
            if let Some(cursor) = &cursor {
                request = request.query(&[("since", cursor)]);
            }
            let response = request.send().await.map_err(|err| err.to_string())?;
            match response.status() {
                StatusCode::OK => {}
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(format!(
                        "Warden refused the feed's client credentials ({})",
                        response.status()
                    ))
                }
                status => return Err(format!("the feed answered {status}")),
            }
            let body = read_limited(response).await?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|err| format!("the feed answered an unexpected document: {err}"))?;
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let full = page.items.len() >= PAGE;
            {
                let mut revoked = self.revoked.lock().unwrap_or_else(PoisonError::into_inner);
                for item in page.items {
                    let expires = OffsetDateTime::parse(&item.expires_at, &Rfc3339)
                        .map(OffsetDateTime::unix_timestamp)
                        // An unreadable time: keep the entry for a day rather than lose it.
                        .unwrap_or(now + 86_400);
                    revoked.insert(item.sid, expires);
                }
                revoked.retain(|_, expires| expires.saturating_add(self.retain) >= now);
            }
            *self.cursor.lock().unwrap_or_else(PoisonError::into_inner) = Some(page.next_cursor);
            if !full {
                break;
            }
        }
        self.polls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Marks the first poll as done, whatever its outcome.
    pub(crate) fn mark_ready(&self) {
        self.ready.send_replace(true);
    }
}
