//! `GET /v1/audit`: the audit log.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use warden_core::admin::audit::{self, AuditQuery};
use warden_core::audit::AuditRecord;
use warden_core::page::Page;

use crate::error::{ApiError, Problem};
use crate::extract::{Authenticated, Params};
use crate::state::AppState;

/// Query of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListAudit {
    /// Exact actor: `user:<id>`, `client:<id>`, `system` or `anonymous`.
    actor: Option<String>,
    /// Exact action, such as `login.failed` or `role.granted`.
    action: Option<String>,
    /// Account id.
    account_id: Option<String>,
    /// From (RFC 3339, inclusive).
    from: Option<String>,
    /// To (RFC 3339, exclusive).
    to: Option<String>,
    /// Page size, 1..=1000 (default 100).
    limit: Option<u32>,
    /// Cursor from the previous page.
    cursor: Option<String>,
}

/// Audit records, oldest first, filtered; account administrators see their account's.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(ListAudit), security(("bearer" = [])),
    responses((status = 200, body = Page<AuditRecord>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Params(q): Params<ListAudit>,
) -> Result<Json<Page<AuditRecord>>, ApiError> {
    let query = AuditQuery {
        actor: q.actor,
        action: q.action,
        account_id: q.account_id,
        from: q.from,
        to: q.to,
        limit: q.limit,
        cursor: q.cursor,
    };
    Ok(Json(
        audit::list(state.services(), auth.access(), query).await?,
    ))
}
