//! AuthZEN search (`/access/v1/search/{subject,resource,action}`): which subjects, resources or
//! actions a decision would allow, found by deciding each candidate with the same engine as an
//! evaluation. Candidates are bounded: a subject search asks about the decision account's
//! members (every user for a global caller that names no account), a resource search about the
//! registered resources of the type (the account's, then the global ones), an action search
//! about every action the account's roles and policies name for the resource's type. So the
//! answers are exact for roles (inheritance and wildcards included, since each candidate is
//! decided) and for Cedar policies, over those candidates.
//!
//! Results come in pages: `page.limit` (default 50, at most 1000) results, and an opaque
//! `next_token` (empty on the last page) that names where the scan stopped and the request it
//! belongs to; a token sent with a different request is a 400. A page also ends after
//! [`SCAN_LIMIT`] candidates, so one request never walks a million users.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use warden_core::authz::check::{self, CheckRequest, PrincipalRef};
use warden_core::authz::engine::Resource;
use warden_core::authz::permission::builtin::CHECK_ANY;
use warden_core::authz::{Access, Reach};
use warden_core::ids::{AccountId, UserId};
use warden_core::page::PageRequest;
use warden_core::store::{ResourceFilter, UserFilter};
use warden_core::DomainError;

use super::page_token::{fingerprint, open_token, token};
use super::{
    account_named, action, bad_request, entity, object_body, object_of, principal, Failure,
};
use crate::extract::{Authenticated, ClientAddr};
use crate::state::AppState;

/// Results per page when the request names no limit.
const DEFAULT_LIMIT: usize = 50;
/// Most results per page.
const MAX_LIMIT: usize = 1000;
/// Most candidates one page decides.
pub const SCAN_LIMIT: usize = 5000;
/// Candidates read from the store at a time.
const CHUNK: u32 = 500;

/// What is searched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Subject,
    Resource,
    Action,
}

/// A search request, read.
struct Search {
    /// The searched-for entity's type (subject or resource search).
    kind: String,
    /// The subject, for resource and action searches: its type, id and properties.
    subject: Option<(String, String, Map<String, Value>)>,
    action: Option<(String, Map<String, Value>)>,
    /// The resource: type, id (absent in a resource search) and properties.
    resource: (String, String, Map<String, Value>),
    context: Map<String, Value>,
    account: Option<AccountId>,
    limit: usize,
    /// Where the previous page stopped.
    after: Option<String>,
    /// The request without its page token, hashed: a token belongs to one request.
    fingerprint: String,
}

/// A searched-for entity: only its `type` counts (an `id`, if sent, is ignored).
fn searched(value: Option<&Value>, what: &str) -> Result<(String, Map<String, Value>), String> {
    let object = value
        .ok_or_else(|| format!("`{what}` is required"))?
        .as_object()
        .ok_or_else(|| format!("`{what}` must be an object"))?;
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("`{what}.type` is required, a non-empty string"))?;
    Ok((
        kind.to_owned(),
        object_of(
            object.get("properties").cloned(),
            &format!("{what}.properties"),
        )?,
    ))
}

fn read(target: Target, body: &Map<String, Value>) -> Result<Search, String> {
    let (kind, subject) = match target {
        Target::Subject => (searched(body.get("subject"), "subject")?.0, None),
        Target::Resource | Target::Action => {
            let subject = entity(body.get("subject").cloned(), "subject")?;
            (String::new(), Some(subject))
        }
    };
    let action = match target {
        Target::Action => None,
        Target::Subject | Target::Resource => Some(action(body.get("action").cloned())?),
    };
    let (kind, resource) = match target {
        Target::Resource => {
            let (resource_kind, properties) = searched(body.get("resource"), "resource")?;
            (
                resource_kind.clone(),
                (resource_kind, String::new(), properties),
            )
        }
        Target::Subject | Target::Action => {
            (kind, entity(body.get("resource").cloned(), "resource")?)
        }
    };
    let context = object_of(body.get("context").cloned(), "context")?;
    let account = account_named(
        subject.as_ref().map(|(_, _, properties)| properties),
        &context,
    )?;
    let page = object_of(body.get("page").cloned(), "page")?;
    let limit = match page.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(value) => value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or("`page.limit` must be a non-negative integer")?
            .min(MAX_LIMIT),
    };
    let fingerprint = fingerprint(body);
    let after = match page.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) if token.is_empty() => None,
        Some(Value::String(token)) => Some(open_token(token, &fingerprint)?),
        Some(_) => return Err("`page.token` must be a string".into()),
    };
    Ok(Search {
        kind,
        subject,
        action,
        resource,
        context,
        account,
        limit,
        after,
        fingerprint,
    })
}

/// One candidate's question, in `/v1/check` terms.
struct Candidate {
    principal: PrincipalRef,
    principal_properties: Map<String, Value>,
    action: String,
    resource: Resource,
}

/// Decides `candidate` for `search`; `Ok(false)` for any denial, including one the request
/// cannot be answered for (an unknown principal, a malformed action).
fn allowed(
    state: &AppState,
    access: &Access,
    ip: std::net::IpAddr,
    search: &Search,
    candidate: Candidate,
) -> Result<bool, DomainError> {
    let mut context = search.context.clone();
    let mut account = search.account;
    if let Some((_, properties)) = &search.action {
        if !properties.is_empty() {
            context.insert("action".into(), Value::Object(properties.clone()));
        }
    }
    // A global caller naming no account decides a user in the one account their roles are in.
    if account.is_none() && access.reach(CHECK_ANY) == Reach::All {
        if let PrincipalRef::Text(id) = &candidate.principal {
            if let Ok(user) = UserId::parse(id) {
                account = state.services().engine.snapshot().sole_account_of(&user);
            }
        }
    }
    let request = CheckRequest {
        principal: Some(candidate.principal),
        account_id: account,
        action: candidate.action,
        resource: candidate.resource,
        context,
        principal_properties: candidate.principal_properties,
    };
    match check::decide_quietly(state.services(), access, ip, &request) {
        Ok(decision) => Ok(decision.allowed),
        Err(DomainError::Forbidden(why)) => Err(DomainError::Forbidden(why)),
        Err(_) => Ok(false),
    }
}

/// The page of results, and where the next one starts (`None`: this was the last).
struct Found {
    results: Vec<Value>,
    next: Option<String>,
}

fn respond(search: &Search, found: Found) -> Response {
    let next_token = found
        .next
        .map(|after| token(&search.fingerprint, &after))
        .unwrap_or_default();
    axum::Json(json!({
        "page": {"next_token": next_token, "count": found.results.len()},
        "results": found.results,
    }))
    .into_response()
}

/// The account whose members and resources a search walks: the caller's own when it is
/// limited to one, else the one the request names (none: everything).
fn scope(access: &Access, search: &Search) -> Result<Option<AccountId>, DomainError> {
    match access.reach(CHECK_ANY) {
        Reach::Nowhere => Err(DomainError::Forbidden(
            "AuthZEN searches need the permission `warden.check:any`".into(),
        )),
        Reach::Account(mine) => match search.account {
            Some(asked) if asked != mine => Err(DomainError::NotFound("account")),
            _ => Ok(Some(mine)),
        },
        Reach::All => Ok(search.account),
    }
}

/// What Warden answers a search with, before the page shape.
enum Outcome {
    Found(Found),
    /// Nothing can match (an unknown subject, a type Warden has no candidates of).
    Empty,
}

async fn run(
    state: &AppState,
    access: &Access,
    ip: std::net::IpAddr,
    target: Target,
    search: &Search,
) -> Result<Outcome, Failure> {
    let account = scope(access, search).map_err(|err| match err {
        DomainError::NotFound(_) => Failure::Unknown,
        other => Failure::Refused(other),
    })?;
    match target {
        Target::Subject => subjects_of(state, access, ip, search, account).await,
        Target::Resource => resources_of(state, access, ip, search, account).await,
        Target::Action => actions_of(state, access, ip, search, account).await,
    }
}

/// The subject a resource or action search is about, as Warden names it.
async fn named_subject(
    state: &AppState,
    search: &Search,
) -> Result<Option<(PrincipalRef, Map<String, Value>)>, Failure> {
    let Some((kind, id, properties)) = &search.subject else {
        return Ok(None);
    };
    Ok(principal(state, kind, id)
        .await?
        .map(|named| (named, properties.clone())))
}

fn resource_of(search: &Search, id: &str) -> Resource {
    Resource {
        kind: search.resource.0.clone(),
        id: id.to_owned(),
        attributes: search.resource.2.clone(),
        parents: Vec::new(),
    }
}

fn action_of(search: &Search) -> String {
    search
        .action
        .as_ref()
        .map(|(name, _)| name.clone())
        .unwrap_or_default()
}

async fn subjects_of(
    state: &AppState,
    access: &Access,
    ip: std::net::IpAddr,
    search: &Search,
    account: Option<AccountId>,
) -> Result<Outcome, Failure> {
    if !matches!(
        search.kind.to_ascii_lowercase().as_str(),
        "user" | "identity"
    ) {
        return Ok(Outcome::Empty);
    }
    let store = &state.services().store;
    let filter = UserFilter {
        account_id: account,
        ..UserFilter::default()
    };
    let mut page = PageRequest {
        limit: CHUNK,
        after: search.after.clone(),
    };
    let mut results = Vec::new();
    let mut scanned = 0;
    loop {
        let rows = store
            .users(&filter, &page)
            .await
            .map_err(|err| Failure::Refused(err.into()))?;
        let more = rows.len() > CHUNK as usize;
        let rows = &rows[..rows.len().min(CHUNK as usize)];
        for (i, record) in rows.iter().enumerate() {
            scanned += 1;
            let candidate = Candidate {
                principal: PrincipalRef::Text(record.id.to_string()),
                principal_properties: Map::new(),
                action: action_of(search),
                resource: resource_of(search, &search.resource.1),
            };
            if allowed(state, access, ip, search, candidate).map_err(Failure::Refused)? {
                // Named as other systems know the user: its external id, else its username,
                // else its Warden id.
                let id = record
                    .external_id
                    .clone()
                    .or_else(|| record.username.as_ref().map(|u| u.as_str().to_owned()))
                    .unwrap_or_else(|| record.id.to_string());
                results.push(json!({"type": search.kind, "id": id}));
            }
            if results.len() >= search.limit || scanned >= SCAN_LIMIT {
                let rest = more || i + 1 < rows.len();
                return Ok(Outcome::Found(Found {
                    results,
                    next: rest.then(|| record.id.to_string()),
                }));
            }
        }
        if !more {
            return Ok(Outcome::Found(Found {
                results,
                next: None,
            }));
        }
        page.after = rows.last().map(|record| record.id.to_string());
    }
}

async fn resources_of(
    state: &AppState,
    access: &Access,
    ip: std::net::IpAddr,
    search: &Search,
    account: Option<AccountId>,
) -> Result<Outcome, Failure> {
    let Some((named, properties)) = named_subject(state, search).await? else {
        return Ok(Outcome::Empty);
    };
    let store = &state.services().store;
    // The account's resources, then the global ones; the token names the scope and the key.
    let mut scopes: Vec<Option<AccountId>> = Vec::new();
    if account.is_some() {
        scopes.push(account);
    }
    scopes.push(None);
    let (mut phase, mut after) = match &search.after {
        Some(text) => match text.split_once('\t') {
            Some(("1", key)) => (1, Some(key.to_owned())),
            Some((_, key)) => (0, Some(key.to_owned())),
            None => (0, None),
        },
        None => (0, None),
    };
    let mut results = Vec::new();
    let mut scanned = 0;
    while phase < scopes.len() {
        let filter = ResourceFilter {
            scope: Some(scopes[phase]),
            kind: Some(search.kind.clone()),
        };
        let rows = store
            .resources(
                &filter,
                &PageRequest {
                    limit: CHUNK,
                    after: after.clone(),
                },
            )
            .await
            .map_err(|err| Failure::Refused(err.into()))?;
        let more = rows.len() > CHUNK as usize;
        let rows = &rows[..rows.len().min(CHUNK as usize)];
        for (i, resource) in rows.iter().enumerate() {
            scanned += 1;
            let candidate = Candidate {
                principal: named.clone(),
                principal_properties: properties.clone(),
                action: action_of(search),
                resource: resource_of(search, &resource.id),
            };
            if allowed(state, access, ip, search, candidate).map_err(Failure::Refused)? {
                results.push(json!({"type": resource.kind, "id": resource.id}));
            }
            if results.len() >= search.limit || scanned >= SCAN_LIMIT {
                let last = i + 1 == rows.len() && !more;
                let next = if last && phase + 1 == scopes.len() {
                    None
                } else if last {
                    Some(format!("{}\t", phase + 1))
                } else {
                    Some(format!("{phase}\t{}", resource.key()))
                };
                return Ok(Outcome::Found(Found { results, next }));
            }
        }
        if more {
            after = rows.last().map(warden_core::model::RegisteredResource::key);
        } else {
            phase += 1;
            after = None;
        }
    }
    Ok(Outcome::Found(Found {
        results,
        next: None,
    }))
}

async fn actions_of(
    state: &AppState,
    access: &Access,
    ip: std::net::IpAddr,
    search: &Search,
    account: Option<AccountId>,
) -> Result<Outcome, Failure> {
    let Some((named, properties)) = named_subject(state, search).await? else {
        return Ok(Outcome::Empty);
    };
    let snapshot = state.services().engine.snapshot();
    let kind = &search.resource.0;
    let mut names: std::collections::BTreeSet<String> = snapshot
        .role_actions_for(account.as_ref(), kind)
        .into_iter()
        .collect();
    names.extend(
        snapshot
            .policies
            .named_actions(account.as_ref())
            .into_iter()
            .map(str::to_owned),
    );
    let start = search.after.as_deref().unwrap_or_default();
    let mut results = Vec::new();
    let candidates: Vec<&String> = names
        .iter()
        .filter(|name| name.as_str() > start || start.is_empty())
        .collect();
    for (i, name) in candidates.iter().enumerate() {
        let candidate = Candidate {
            principal: named.clone(),
            principal_properties: properties.clone(),
            action: (*name).clone(),
            resource: resource_of(search, &search.resource.1),
        };
        if allowed(state, access, ip, search, candidate).map_err(Failure::Refused)? {
            results.push(json!({"name": name}));
        }
        if results.len() >= search.limit && i + 1 < candidates.len() {
            return Ok(Outcome::Found(Found {
                results,
                next: Some((*name).clone()),
            }));
        }
    }
    Ok(Outcome::Found(Found {
        results,
        next: None,
    }))
}

async fn answer(
    state: &AppState,
    auth: &Authenticated,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    body: &Bytes,
    target: Target,
) -> Response {
    let object = match object_body(headers, body) {
        Ok(object) => object,
        Err(why) => return bad_request(&why),
    };
    // Who may ask comes first: a caller that may not search learns nothing else.
    if auth.access().reach(CHECK_ANY) == Reach::Nowhere {
        return crate::error::ApiError::from(DomainError::Forbidden(
            "AuthZEN searches need the permission `warden.check:any`".into(),
        ))
        .into_response();
    }
    let search = match read(target, &object) {
        Ok(search) => search,
        Err(why) => return bad_request(&why),
    };
    match run(state, auth.access(), ip, target, &search).await {
        Ok(Outcome::Found(found)) => {
            // A search tells who may reach what: each one is recorded, with what it found
            // (coalesced when repeated, as denials are).
            let event = warden_core::audit::Event {
                actor: warden_core::authz::actor_name(auth.access()),
                action: "authzen.searched",
                account: search.account.or(match auth.access().reach(CHECK_ANY) {
                    Reach::Account(mine) => Some(mine),
                    Reach::All | Reach::Nowhere => None,
                }),
                target: Some(format!("{target:?}").to_lowercase()),
                details: json!({
                    "action": search.action.as_ref().map(|(name, _)| name),
                    "resource": {"type": search.resource.0, "id": search.resource.1},
                    "results": found.results.len(),
                }),
            };
            warden_core::audit::record_repeated(state.services(), event, 1).await;
            respond(&search, found)
        }
        Ok(Outcome::Empty) | Err(Failure::Unknown) => respond(
            &search,
            Found {
                results: Vec::new(),
                next: None,
            },
        ),
        Err(Failure::Refused(err)) => crate::error::ApiError::from(err).into_response(),
        Err(Failure::Malformed(why) | Failure::Item(why)) => bad_request(&why),
    }
}

/// AuthZEN Subject Search: which subjects of a type may do this action on this resource.
pub async fn subjects(
    State(state): State<AppState>,
    auth: Authenticated,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&state, &auth, ip, &headers, &body, Target::Subject).await
}

/// AuthZEN Resource Search: which registered resources of a type this subject may act on.
pub async fn resources(
    State(state): State<AppState>,
    auth: Authenticated,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&state, &auth, ip, &headers, &body, Target::Resource).await
}

/// AuthZEN Action Search: which actions this subject may do on this resource.
pub async fn actions(
    State(state): State<AppState>,
    auth: Authenticated,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&state, &auth, ip, &headers, &body, Target::Action).await
}
