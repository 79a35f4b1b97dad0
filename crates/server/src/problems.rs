//! `GET /problems/{name}`: the page each problem's `type` URI (RFC 9457) names, saying what
//! the problem means and how to fix it. Static text: nothing from the request is echoed.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// (name, title, what it means, how to fix it).
const PROBLEMS: &[(&str, &str, &str, &str)] = &[
    ("validation", "Some fields are invalid",
     "The request was well-formed, but one or more fields break a rule. The `errors` array names each field and what is wrong with it.",
     "Correct the fields listed in `errors` and send the request again."),
    ("malformed-json", "The body is not the JSON expected",
     "The body does not parse as JSON, or a field has the wrong type, or a field is not known to this endpoint (unknown fields are refused, never ignored).",
     "Check the body against the endpoint's schema in /openapi.json (or /docs); the `detail` names the field."),
    ("invalid-body", "The body holds something no store can keep",
     "A string or key in the body holds a character Warden refuses to store (a NUL).",
     "Remove the character from the field named in `detail`."),
    ("unreadable-body", "The body could not be read",
     "The connection ended or the body was cut off while Warden read it.",
     "Send the request again with a complete body."),
    ("unsupported-media-type", "The body is not JSON",
     "This endpoint takes `application/json` (the token endpoint also takes form encoding).",
     "Set `Content-Type: application/json` and send JSON."),
    ("payload-too-large", "The body is too large",
     "The body is larger than this endpoint accepts (`max_body_bytes`; batches accept more).",
     "Send a smaller body, or split a batch."),
    ("invalid-id", "An id in the path is not one",
     "A path segment that must be an id (a UUID, or a `wc_` client id) is not in that form.",
     "Use the id exactly as Warden returned it."),
    ("invalid-query", "A query parameter is invalid",
     "A query parameter is unknown to this endpoint, or its value has the wrong form (a `limit` out of range, a `cursor` not from a previous page).",
     "Check the parameters in /openapi.json; take cursors only from `next_cursor`."),
    ("token-in-query", "A credential was sent in the URL",
     "Tokens and keys are refused in query strings: URLs end up in logs, histories and referrers (RFC 6750 section 5.3).",
     "Send the token in the `Authorization: Bearer` header, or a key in `X-API-Key`."),
    ("unauthenticated", "Authentication is needed",
     "No credentials were sent, or the token, key or client secret is invalid, expired, revoked, or belongs to a disabled user, client or account. The `WWW-Authenticate` header says which.",
     "Log in again (or refresh) to get a new access token, and send it as `Authorization: Bearer <token>`."),
    ("forbidden", "Not allowed",
     "The caller is known but lacks the permission this action needs, in this account; or a policy forbids it (the `detail` names the policy).",
     "Ask an administrator for a role that grants the permission in `detail`, in the account concerned."),
    ("not-found", "Not found",
     "The resource does not exist, or the caller may not know it exists (another account's resources answer this way too).",
     "Check the id and the account; list the collection to find what exists."),
    ("method-not-allowed", "Method not allowed",
     "The endpoint exists but does not accept this HTTP method.",
     "See /openapi.json for the methods each path takes."),
    ("conflict", "Conflicts with the current state",
     "The request clashes with what exists: a name or email already taken, a role already held, a member missing, a cycle in role inheritance.",
     "Read the `detail`, change the request (or the state it depends on), and send it again."),
    ("rate-limited", "Too many attempts",
     "This address, or this login identifier, made too many attempts in a short time. The `Retry-After` header says when to try again.",
     "Wait for the time in `Retry-After`. Repeated failures lengthen the wait."),
    ("busy", "Service busy",
     "Warden is saturated, or its view of the database is stale (the database cannot be reached). The `Retry-After` header says when to try again.",
     "Retry after the time in `Retry-After`; if it persists, check the database and Warden's logs."),
    ("internal", "Internal error",
     "Warden failed in a way that is not the request's fault. The details are in Warden's log, under the response's `X-Request-ID`.",
     "Retry; if it persists, report it with the `X-Request-ID`."),
];

/// The page of a problem, or a 404 problem for a name Warden never uses.
pub async fn page(Path(name): Path<String>) -> Response {
    let Some((_, title, meaning, fix)) = PROBLEMS.iter().find(|(n, ..)| *n == name) else {
        return ApiError::Request(
            StatusCode::NOT_FOUND,
            "not-found",
            "no such problem type; see /problems".into(),
        )
        .into_response();
    };
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} - Warden</title></head>\n<body style=\"font-family: system-ui, sans-serif; max-width: 40em; margin: 2em auto; line-height: 1.5\">\
         <h1>{title}</h1>\n<p>{meaning}</p>\n<h2>How to fix it</h2>\n<p>{fix}</p>\n\
         <p><a href=\"/problems\">All problem types</a> · <a href=\"/docs\">API reference</a></p></body></html>\n",
        title = code(title),
        meaning = code(meaning),
        fix = code(fix),
    );
    html(body)
}

/// Every problem type, linked.
pub async fn index() -> Response {
    let items: String = PROBLEMS
        .iter()
        .map(|(name, title, ..)| {
            format!(
                "<li><a href=\"/problems/{name}\">{name}</a>: {}</li>\n",
                code(title)
            )
        })
        .collect();
    html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Problem types - Warden</title></head>\n\
         <body style=\"font-family: system-ui, sans-serif; max-width: 40em; margin: 2em auto\"><h1>Problem types</h1>\n\
         <p>Every error Warden answers is an RFC 9457 problem whose <code>type</code> is one of these.</p>\n<ul>\n{items}</ul></body></html>\n"
    ))
}

fn html(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// The static text as HTML: `&`, `<` and `>` escaped, and `backticks` as code.
fn code(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}
