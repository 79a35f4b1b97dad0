//! Route layers: tower [`Layer`]s that refuse a request unless its token meets a rule (a valid
//! token, roles, a permission from the token, a decision asked from Warden), and that hand the
//! verified [`Principal`] on to the handler's extractor.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::check::{Check, Resource};
use crate::claims::Principal;
use crate::error::{GuardError, Rejection};
use crate::guard::Guard;

type ResourceFn = Arc<dyn Fn(&RequestInfo<'_>) -> Resource + Send + Sync>;

/// What a route requires.
#[derive(Clone)]
pub(crate) enum Rule {
    /// Nothing: the guard is attached for the extractors.
    Attach,
    /// A valid token.
    Authenticated,
    /// Roles the token must carry: all of them, or at least one.
    Roles { names: Vec<String>, all: bool },
    /// A permission the token's `permissions` claim must grant.
    Permission(String),
    /// A decision asked from Warden.
    Check {
        action: String,
        resource: Option<ResourceFn>,
    },
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Attach => f.write_str("Attach"),
            Self::Authenticated => f.write_str("Authenticated"),
            Self::Roles { names, all } => f
                .debug_struct("Roles")
                .field("names", names)
                .field("all", all)
                .finish(),
            Self::Permission(permission) => f.debug_tuple("Permission").field(permission).finish(),
            Self::Check { action, resource } => f
                .debug_struct("Check")
                .field("action", action)
                .field("resource", &resource.as_ref().map(|_| "fn"))
                .finish(),
        }
    }
}

/// What a resource builder sees of the request: its parts, its path parameters (on a route
/// layer) and the verified principal.
pub struct RequestInfo<'a> {
    parts: &'a Parts,
    params: &'a [(String, String)],
    principal: &'a Principal,
}

impl RequestInfo<'_> {
    /// The request's method, URI, headers and extensions.
    pub fn parts(&self) -> &Parts {
        self.parts
    }

    /// The path parameter `name` (`{id}` in `/documents/{id}`), percent-decoded. Path
    /// parameters are known on layers added with `route_layer` or on a `MethodRouter`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The caller.
    pub fn principal(&self) -> &Principal {
        self.principal
    }
}

/// A tower layer enforcing one rule with one [`Guard`]; made by [`Guard::layer`],
/// [`Guard::authenticated`], [`Guard::require_role`], [`Guard::require_any_role`],
/// [`Guard::require_all_roles`], [`Guard::require_permission`] and [`Guard::require_check`].
///
/// Put it on routes with `Router::route_layer` (or `MethodRouter::layer`), so unmatched paths
/// still answer 404 and path parameters are known. A refused request is answered here (401,
/// 403, 503 or 500 per RFC 6750, see [`Rejection`]); an allowed one reaches the handler with
/// its [`Principal`] in the request extensions.
#[derive(Clone, Debug)]
pub struct GuardLayer {
    guard: Guard,
    rule: Arc<Rule>,
}

impl GuardLayer {
    pub(crate) fn new(guard: Guard, rule: Rule) -> Self {
        Self {
            guard,
            rule: Arc::new(rule),
        }
    }

    /// For [`Guard::require_check`]: builds the resource of the check from the request. Other
    /// rules ignore it.
    pub fn with_resource<F>(self, build: F) -> Self
    where
        F: Fn(&RequestInfo<'_>) -> Resource + Send + Sync + 'static,
    {
        let rule = match &*self.rule {
            Rule::Check { action, .. } => Rule::Check {
                action: action.clone(),
                resource: Some(Arc::new(build)),
            },
            other => other.clone(),
        };
        Self {
            guard: self.guard,
            rule: Arc::new(rule),
        }
    }

    /// For [`Guard::require_check`]: the resource is of type `kind`, its id the path parameter
    /// `param` (`with_resource_param("document", "id")` on `/documents/{id}`).
    pub fn with_resource_param(self, kind: impl Into<String>, param: impl Into<String>) -> Self {
        let (kind, param) = (kind.into(), param.into());
        self.with_resource(move |request| {
            Resource::new(kind.clone(), request.param(&param).unwrap_or_default())
        })
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            inner,
            guard: self.guard.clone(),
            rule: self.rule.clone(),
        }
    }
}

/// The service a [`GuardLayer`] wraps around a route.
#[derive(Clone, Debug)]
pub struct GuardService<S> {
    inner: S,
    guard: Guard,
    rule: Arc<Rule>,
}

fn names(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `principal` meets `rule`; the refusal otherwise.
async fn enforce(
    guard: &Guard,
    rule: &Rule,
    parts: &mut Parts,
    principal: &Principal,
) -> Result<(), Rejection> {
    match rule {
        Rule::Attach | Rule::Authenticated => Ok(()),
        Rule::Roles { names: wanted, all } => {
            let held = |name: &String| principal.has_role(name);
            let met = if *all {
                wanted.iter().all(held)
            } else {
                wanted.iter().any(held)
            };
            if met {
                return Ok(());
            }
            let detail = match (wanted.len(), all) {
                (1, _) => format!("this needs the role {}", names(wanted)),
                (_, true) => format!("this needs the roles {}", names(wanted)),
                (_, false) => format!("this needs one of the roles {}", names(wanted)),
            };
            Err(guard.reject(GuardError::Forbidden {
                detail,
                scope: Some(wanted.join(" ")),
            }))
        }
        Rule::Permission(permission) => match principal.has_permission(permission) {
            Some(true) => Ok(()),
            Some(false) => Err(guard.reject(GuardError::forbidden(format!(
                "this needs the permission `{permission}`"
            )))),
            None => Err(guard.reject(GuardError::forbidden(format!(
                "this needs the permission `{permission}`, and the token carries no permissions claim"
            )))),
        },
        Rule::Check { action, resource } => {
            let mut check = Check::new(action.clone());
            if let Some(build) = resource {
                let params: Vec<(String, String)> =
                    match RawPathParams::from_request_parts(parts, &()).await {
                        Ok(raw) => raw
                            .iter()
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect(),
                        Err(_) => Vec::new(),
                    };
                let info = RequestInfo {
                    parts,
                    params: &params,
                    principal,
                };
                check = check.on(build(&info));
            }
            guard.require(principal, &check).await
        }
    }
}

impl<S> Service<Request> for GuardService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was polled ready serves this request; a fresh clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        let rule = self.rule.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(guard.clone());
            if !matches!(*rule, Rule::Attach) {
                let known = parts
                    .extensions
                    .get::<Principal>()
                    .filter(|principal| guard.verified(principal))
                    .cloned();
                let principal = match known {
                    Some(principal) => principal,
                    None => match guard.authenticate(&parts.headers).await {
                        Ok(principal) => principal,
                        Err(rejection) => return Ok(rejection.into_response()),
                    },
                };
                if let Err(rejection) = enforce(&guard, &rule, &mut parts, &principal).await {
                    return Ok(rejection.into_response());
                }
                parts.extensions.insert(principal);
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}
