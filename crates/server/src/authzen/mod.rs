//! The OpenID AuthZEN Authorization API 1.0 at the edge: `POST /access/v1/evaluation`,
//! `POST /access/v1/evaluations` and `GET /.well-known/authzen-configuration`, translated into
//! the same decision `POST /v1/check` makes (`warden_core::authz::check`). As the specification
//! requires, unknown fields are ignored here (and only here), a deny is a 200 with
//! `"decision": false`, and `X-Request-ID` is echoed. Callers name the subject, so they need
//! `warden.check:any`, limited to their account exactly as `/v1/check` is.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use warden_core::authz::check::{self, CheckRequest, PrincipalRef};
use warden_core::authz::engine::{Decision, Resource};
use warden_core::authz::Access;
use warden_core::DomainError;

use crate::extract::{Authenticated, ClientAddr};
use crate::state::AppState;

mod page_token;
mod search;

/// Most evaluations in one request, as `/v1/check/batch`.
pub const MAX_EVALUATIONS: usize = 1000;

/// `?explain=true` puts the reasons in the response `context`.
#[derive(Debug, Default, Deserialize)]
pub struct Explain {
    #[serde(default)]
    explain: Option<String>,
}

impl Explain {
    fn wanted(&self) -> bool {
        self.explain
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

/// An AuthZEN error: 400 with a problem body.
pub(super) fn bad_request(detail: &str) -> Response {
    let body = json!({
        "type": "/problems/invalid-request",
        "title": "Bad Request",
        "status": 400,
        "detail": detail,
    });
    let mut response = (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Echoes the caller's `X-Request-ID` on every AuthZEN response, refusals by the
/// authentication and body-size layers included.
async fn echo_request_id(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request.headers().get("x-request-id").cloned();
    let mut response = next.run(request).await;
    if let Some(id) = id {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// The AuthZEN routes: evaluation, evaluations (with the batch body limit), search and the
/// PDP metadata.
pub fn routes(batch_body_bytes: usize) -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/.well-known/authzen-configuration", get(configuration))
        .route("/access/v1/evaluation", post(evaluation))
        .route(
            "/access/v1/evaluations",
            post(evaluations).layer(axum::extract::DefaultBodyLimit::max(batch_body_bytes)),
        )
        .route("/access/v1/search/subject", post(search::subjects))
        .route("/access/v1/search/resource", post(search::resources))
        .route("/access/v1/search/action", post(search::actions))
        .layer(axum::middleware::from_fn(echo_request_id))
}

/// The four parts of one evaluation, each still JSON (defaults merge before they are read).
#[derive(Debug, Clone, Default)]
struct Parts {
    subject: Option<Value>,
    action: Option<Value>,
    resource: Option<Value>,
    context: Option<Value>,
}

impl Parts {
    /// The parts, moved out of the request's object (no copy of what they hold).
    fn take(object: &mut Map<String, Value>) -> Self {
        Self {
            subject: object.remove("subject"),
            action: object.remove("action"),
            resource: object.remove("resource"),
            context: object.remove("context"),
        }
    }

    /// These parts over `defaults`: a part the item gives replaces the default's.
    fn over(self, defaults: &Self) -> Self {
        Self {
            subject: self.subject.or_else(|| defaults.subject.clone()),
            action: self.action.or_else(|| defaults.action.clone()),
            resource: self.resource.or_else(|| defaults.resource.clone()),
            context: self.context.or_else(|| defaults.context.clone()),
        }
    }
}

/// `what` as an object, or why it is not one.
fn required_object(value: Option<Value>, what: &str) -> Result<Map<String, Value>, String> {
    match value {
        Some(Value::Object(object)) => Ok(object),
        Some(_) => Err(format!("`{what}` must be an object")),
        None => Err(format!("`{what}` is required")),
    }
}

/// The non-empty string `field` of `what`, moved out of it.
fn required_text(
    object: &mut Map<String, Value>,
    what: &str,
    field: &str,
) -> Result<String, String> {
    match object.remove(field) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        _ => Err(format!("`{what}.{field}` is required, a non-empty string")),
    }
}

/// A typed entity (`{"type", "id", "properties"?}`) as the request gave it: its type, id and
/// properties.
pub(super) fn entity(
    value: Option<Value>,
    what: &str,
) -> Result<(String, String, Map<String, Value>), String> {
    let mut object = required_object(value, what)?;
    let kind = required_text(&mut object, what, "type")?;
    let id = required_text(&mut object, what, "id")?;
    let properties = object_of(object.remove("properties"), &format!("{what}.properties"))?;
    Ok((kind, id, properties))
}

/// One evaluation, read: what `/v1/check` is asked, or why it cannot be (a 400 for a single
/// evaluation, that item's denial in a batch).
struct Asked {
    subject_kind: String,
    subject_id: String,
    request: CheckRequest,
}

/// An action (`{"name", "properties"?}`) as the request gave it: its name and properties.
pub(super) fn action(value: Option<Value>) -> Result<(String, Map<String, Value>), String> {
    let mut action = required_object(value, "action")?;
    let name = required_text(&mut action, "action", "name")?;
    Ok((
        name,
        object_of(action.remove("properties"), "action.properties")?,
    ))
}

/// An optional object (`context`, `properties`): empty when absent or `null`.
pub(super) fn object_of(value: Option<Value>, what: &str) -> Result<Map<String, Value>, String> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(format!("`{what}` must be an object")),
    }
}

/// The account to decide in: the subject's `account_id` property, else the context's.
pub(super) fn account_named(
    subject_properties: Option<&Map<String, Value>>,
    context: &Map<String, Value>,
) -> Result<Option<warden_core::ids::AccountId>, String> {
    subject_properties
        .and_then(|properties| properties.get("account_id"))
        .or_else(|| context.get("account_id"))
        .map(|value| {
            value
                .as_str()
                .and_then(|text| warden_core::ids::AccountId::parse(text).ok())
                .ok_or_else(|| "`account_id` must be an account id".to_owned())
        })
        .transpose()
}

fn read(parts: Parts) -> Result<Asked, String> {
    let (subject_kind, subject_id, properties) = entity(parts.subject, "subject")?;
    let (kind, id, attributes) = entity(parts.resource, "resource")?;
    let (name, action_properties) = action(parts.action)?;
    let mut context = object_of(parts.context, "context")?;
    if !action_properties.is_empty() {
        context.insert("action".into(), Value::Object(action_properties));
    }
    let account = account_named(Some(&properties), &context)?;
    Ok(Asked {
        subject_kind,
        subject_id,
        request: CheckRequest {
            principal: None,
            account_id: account,
            action: name,
            resource: Resource {
                kind,
                id,
                attributes,
                parents: Vec::new(),
            },
            context,
            principal_properties: properties,
        },
    })
}

/// Why an evaluation was not decided: the caller may not ask at all (403 for the request), or
/// this one evaluation cannot be answered (its denial, with the reason).
pub(super) enum Failure {
    Refused(DomainError),
    /// A required part is missing or malformed: 400 for a single evaluation.
    Malformed(String),
    /// A subject Warden does not know, or not within the caller's reach: a plain denial,
    /// the same for both.
    Unknown,
    Item(String),
}

/// The subject as Warden names principals: a user by id, username or email (`user`, or
/// `identity` as gateways send it), a client by `client_id`. `None`: nobody Warden knows.
pub(super) async fn principal(
    state: &AppState,
    kind: &str,
    id: &str,
) -> Result<Option<PrincipalRef>, Failure> {
    if kind.eq_ignore_ascii_case("user") || kind.eq_ignore_ascii_case("identity") {
        if warden_core::ids::UserId::parse(id).is_ok() {
            return Ok(Some(PrincipalRef::Text(id.to_owned())));
        }
        // The id another system knows the user by, then a username or email.
        let filter = warden_core::store::UserFilter {
            external_id: Some(id.to_owned()),
            ..warden_core::store::UserFilter::default()
        };
        let known = state
            .services()
            .store
            .users(&filter, &warden_core::page::PageRequest::first(1))
            .await
            .map_err(|err| Failure::Refused(err.into()))?;
        if let Some(user) = known.first() {
            return Ok(Some(PrincipalRef::Text(user.id.to_string())));
        }
        let Ok(login) = warden_core::identity::canonicalize(id) else {
            return Ok(None);
        };
        let found = state
            .services()
            .store
            .user_by_login(&login)
            .await
            .map_err(|err| Failure::Refused(err.into()))?;
        return Ok(found.map(|record| PrincipalRef::Text(record.user.id.to_string())));
    }
    if kind.eq_ignore_ascii_case("client") {
        return Ok(Some(PrincipalRef::Typed {
            kind: "client".into(),
            id: id.to_owned(),
        }));
    }
    Ok(None)
}

/// Decides one evaluation.
async fn evaluate(
    state: &AppState,
    access: &Access,
    ip: std::net::IpAddr,
    parts: Parts,
) -> Result<Decision, Failure> {
    // Who may ask comes first: a caller that may not name principals learns nothing about
    // which subjects exist.
    let reach = access.reach(warden_core::authz::permission::builtin::CHECK_ANY);
    if reach == warden_core::authz::Reach::Nowhere {
        return Err(Failure::Refused(DomainError::Forbidden(
            "AuthZEN evaluations need the permission `warden.check:any`".into(),
        )));
    }
    let mut asked = read(parts).map_err(Failure::Malformed)?;
    let Some(named) = principal(state, &asked.subject_kind, &asked.subject_id).await? else {
        return Err(Failure::Unknown);
    };
    // Without an account named, a global caller decides a user in the one account their
    // roles are in (an account-limited caller always decides in its own).
    if asked.request.account_id.is_none() && reach == warden_core::authz::Reach::All {
        if let PrincipalRef::Text(id) = &named {
            if let Ok(user) = warden_core::ids::UserId::parse(id) {
                asked.request.account_id =
                    state.services().engine.snapshot().sole_account_of(&user);
            }
        }
    }
    asked.request.principal = Some(named);
    match check::check(state.services(), access, ip, &asked.request).await {
        Ok(decision) => Ok(decision),
        Err(DomainError::Forbidden(why)) => Err(Failure::Refused(DomainError::Forbidden(why))),
        // A subject outside the caller's account answers as an unknown one does.
        Err(DomainError::NotFound(_)) => Err(Failure::Unknown),
        // An action Warden cannot name, a resource it cannot read: not allowed, and why.
        Err(err) => Err(Failure::Item(err.to_string())),
    }
}

/// A decision as AuthZEN answers it: `{"decision": …}`, with the reasons in `context` when
/// explained.
fn answered(decision: &Decision, explain: bool) -> Value {
    if explain {
        json!({"decision": decision.allowed, "context": {"reasons": decision.reasons, "errors": decision.errors}})
    } else {
        json!({"decision": decision.allowed})
    }
}

fn denial(why: &str) -> Value {
    json!({"decision": false, "context": {"error": {"status": 400, "message": why}}})
}

/// Whether the request says its body is JSON (`application/json`, parameters allowed).
fn says_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The body as a JSON object, or why it is not one (the transport binding sends JSON with
/// `Content-Type: application/json`; anything else is a 400).
pub(super) fn object_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, String> {
    if !says_json(headers) {
        return Err("send the request as `Content-Type: application/json`".into());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the body must be a JSON object".into()),
        Err(err) => Err(format!("the body is not JSON: {err}")),
    }
}

/// AuthZEN Access Evaluation: may this subject do this action on this resource?
pub async fn evaluation(
    State(state): State<AppState>,
    auth: Authenticated,
    ClientAddr(ip): ClientAddr,
    Query(explain): Query<Explain>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut object = match object_body(&headers, &body) {
        Ok(object) => object,
        Err(why) => return bad_request(&why),
    };
    single(
        &state,
        auth.access(),
        ip,
        Parts::take(&mut object),
        explain.wanted(),
    )
    .await
}

/// A bare decision's body, written once.
fn bare(allowed: bool) -> Response {
    let body: &'static str = if allowed {
        r#"{"decision":true}"#
    } else {
        r#"{"decision":false}"#
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// One evaluation's response: its decision, a 400 for a malformed request, or the refusal.
async fn single(
    state: &AppState,
    access: &Access,
    ip: std::net::IpAddr,
    parts: Parts,
    explain: bool,
) -> Response {
    match evaluate(state, access, ip, parts).await {
        Ok(decision) if !explain => bare(decision.allowed),
        Ok(decision) => axum::Json(answered(&decision, true)).into_response(),
        Err(Failure::Refused(err)) => crate::error::ApiError::from(err).into_response(),
        Err(Failure::Malformed(why)) => bad_request(&why),
        Err(Failure::Unknown) => bare(false),
        Err(Failure::Item(why)) => axum::Json(denial(&why)).into_response(),
    }
}

/// AuthZEN Access Evaluations: many evaluations, the top-level parts as defaults.
pub async fn evaluations(
    State(state): State<AppState>,
    auth: Authenticated,
    ClientAddr(ip): ClientAddr,
    Query(explain): Query<Explain>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut object = match object_body(&headers, &body) {
        Ok(object) => object,
        Err(why) => return bad_request(&why),
    };
    let defaults = Parts::take(&mut object);
    // Each item keeps only its own parts here: the defaults are merged into one item at a
    // time, as it is decided, so a large default is never copied once per item up front.
    let items: Vec<Parts> = match object.remove("evaluations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > MAX_EVALUATIONS {
                return bad_request(&format!(
                    "at most {MAX_EVALUATIONS} evaluations per request"
                ));
            }
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Object(mut item) => parts.push(Parts::take(&mut item)),
                    _ => return bad_request("each of `evaluations` must be an object"),
                }
            }
            parts
        }
        Some(_) => return bad_request("`evaluations` must be an array"),
    };
    let semantic = object
        .get("options")
        .and_then(|o| o.get("evaluations_semantic"))
        .and_then(Value::as_str)
        .unwrap_or("execute_all");
    let stop_on = match semantic {
        "execute_all" => None,
        "deny_on_first_deny" => Some(false),
        "permit_on_first_permit" => Some(true),
        other => {
            return bad_request(&format!(
                    "`options.evaluations_semantic` `{other}` is not execute_all, deny_on_first_deny or permit_on_first_permit"
                ))
        }
    };
    // No items: the request is one evaluation, asked and answered as at `/evaluation`.
    if items.is_empty() {
        return single(&state, auth.access(), ip, defaults, explain.wanted()).await;
    }
    let mut answers = Vec::with_capacity(items.len());
    for parts in items {
        let (answer, decided) = match evaluate(&state, auth.access(), ip, parts.over(&defaults))
            .await
        {
            Ok(decision) => (answered(&decision, explain.wanted()), decision.allowed),
            Err(Failure::Refused(err)) => return crate::error::ApiError::from(err).into_response(),
            // In a batch, one item's fault is that item's denial.
            Err(Failure::Malformed(why) | Failure::Item(why)) => (denial(&why), false),
            Err(Failure::Unknown) => (json!({"decision": false}), false),
        };
        answers.push(answer);
        if stop_on == Some(decided) {
            break;
        }
    }
    axum::Json(json!({ "evaluations": answers })).into_response()
}

/// AuthZEN PDP metadata: where the endpoints are and what this PDP supports.
pub async fn configuration(State(state): State<AppState>) -> Response {
    let issuer = state
        .services()
        .tokens
        .issuer()
        .trim_end_matches('/')
        .to_owned();
    axum::Json(json!({
        "policy_decision_point": issuer,
        "access_evaluation_endpoint": format!("{issuer}/access/v1/evaluation"),
        "access_evaluations_endpoint": format!("{issuer}/access/v1/evaluations"),
        "search_subject_endpoint": format!("{issuer}/access/v1/search/subject"),
        "search_resource_endpoint": format!("{issuer}/access/v1/search/resource"),
        "search_action_endpoint": format!("{issuer}/access/v1/search/action"),
        // No registered extension capability is implemented; the account is the caller's
        // (its credential), so one document serves every account.
        "capabilities": [],
    }))
    .into_response()
}
