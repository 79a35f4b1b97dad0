//! Keyset pagination: `limit` plus an opaque cursor naming the last id of the previous page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use crate::error::DomainError;

/// Largest page a list answers.
pub const MAX_LIMIT: u32 = 1000;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 50;

/// Which page to read: at most `limit` items after the item named by the cursor.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Items to return, 1..=1000.
    pub limit: u32,
    /// Sort key (id) of the last item already seen.
    pub after: Option<String>,
}

impl PageRequest {
    /// Validates `limit` and decodes `cursor`, a UUID (the sort key of most lists).
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, DomainError> {
        Self::parse_keyed(limit, cursor, |key| uuid::Uuid::try_parse(key).is_ok())
    }

    /// [`PageRequest::parse`] for a list sorted by another key, which `valid` recognizes.
    pub fn parse_keyed(
        limit: Option<u32>,
        cursor: Option<&str>,
        valid: impl Fn(&str) -> bool,
    ) -> Result<Self, DomainError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(DomainError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(cursor) => {
                let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| {
                    DomainError::invalid("cursor", "is not a cursor this service issued")
                })?;
                let key = String::from_utf8(bytes).map_err(|_| {
                    DomainError::invalid("cursor", "is not a cursor this service issued")
                })?;
                // A key this list does not sort by is not one of our cursors (and could
                // carry bytes the database refuses, such as NUL).
                if !valid(&key) {
                    return Err(DomainError::invalid(
                        "cursor",
                        "is not a cursor this service issued",
                    ));
                }
                Some(key)
            }
        };
        Ok(Self { limit, after })
    }

    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// How many rows to fetch: one more than the page, to know whether another page exists.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts the `limit + 1` rows read into a page, deriving the next cursor from `key`.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() > request.limit as usize;
        rows.truncate(request.limit as usize);
        let next_cursor = if more {
            rows.last().map(|last| URL_SAFE_NO_PAD.encode(key(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// Transforms the items, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}
