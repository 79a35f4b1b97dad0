//! The axum extractors: [`Principal`] for routes that need a caller, `Option<Principal>` for
//! routes that serve anonymous callers too.
//!
//! The guard attached to the request (by [`crate::Guard::layer`], any guard route layer, or an
//! `Extension(guard)`; the innermost wins) verifies the bearer token, unless a principal that
//! guard verified is already in the request extensions (set by a route layer), which is
//! reused.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use crate::claims::Principal;
use crate::error::{GuardError, Rejection};
use crate::guard::Guard;
use crate::http::bearer;

/// The guard attached to the request, and a principal it verified already.
fn attached(parts: &Parts) -> Result<(Guard, Option<Principal>), Rejection> {
    let guard = parts.extensions.get::<Guard>().cloned().ok_or_else(|| {
        Rejection::from(GuardError::Misconfigured(
            "the route extracts a Principal but no guard is attached: add `.layer(guard.layer())` to the router"
                .into(),
        ))
    })?;
    let known = parts
        .extensions
        .get::<Principal>()
        .filter(|principal| guard.verified(principal))
        .cloned();
    Ok((guard, known))
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        let (guard, known) = attached(parts)?;
        if let Some(principal) = known {
            return Ok(principal);
        }
        let principal = guard.authenticate(&parts.headers).await?;
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = Rejection;

    /// `None` when the request carries no bearer token; a token that is there must be valid.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Rejection> {
        let (guard, known) = attached(parts)?;
        if known.is_some() {
            return Ok(known);
        }
        let Some(token) = bearer(&parts.headers).map_err(|err| guard.reject(err))? else {
            return Ok(None);
        };
        let principal = guard.verify(token).await.map_err(|err| guard.reject(err))?;
        parts.extensions.insert(principal.clone());
        Ok(Some(principal))
    }
}
