//! The span every request is logged in. Its URI keeps the path and the names of the query
//! parameters but never their values: tokens and secrets sent by mistake land there
//! (`?access_token=…`), and a debug log must not collect them.

use axum::http::{Request, Uri};
use tower_http::trace::MakeSpan;
use tracing::Span;

/// What a query value (or a name that does not look like one) is logged as.
pub const REDACTED: &str = "redacted";

/// Longest query parameter name logged as is.
const MAX_NAME: usize = 32;

/// Makes each request's span, with its URI [`redacted`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        tracing::debug_span!(
            "request",
            method = %request.method(),
            uri = %redacted(request.uri()),
            version = ?request.version(),
        )
    }
}

/// `uri` as it may be logged: the path, then each query parameter as `name=redacted`. A name
/// is kept only when it looks like a parameter name (lowercase letters and `_`), since a
/// secret pasted into the query has no `=` and would otherwise be its name.
pub fn redacted(uri: &Uri) -> String {
    let mut shown = uri.path().to_owned();
    let Some(query) = uri.query() else {
        return shown;
    };
    for (i, pair) in query.split('&').enumerate() {
        shown.push(if i == 0 { '?' } else { '&' });
        let (name, value) = match pair.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (pair, None),
        };
        let plain = (1..=MAX_NAME).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        shown.push_str(if plain { name } else { REDACTED });
        if value.is_some() {
            shown.push('=');
            shown.push_str(REDACTED);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(uri: &str) -> String {
        redacted(&uri.parse().expect("a URI"))
    }

    #[test]
    fn query_values_never_show() {
        assert_eq!(
            shown("/v1/users/me?access_token=eyJ.secret&limit=5"),
            "/v1/users/me?access_token=redacted&limit=redacted"
        );
        assert_eq!(shown("/v1/audit?cursor="), "/v1/audit?cursor=redacted");
    }

    #[test]
    fn names_that_may_be_secrets_never_show() {
        assert_eq!(shown("/v1/users?wk_Secret123"), "/v1/users?redacted");
        assert_eq!(
            shown("/v1/users?Bearer%20x=1"),
            "/v1/users?redacted=redacted"
        );
        assert_eq!(
            shown(&format!("/x?{}=1", "a".repeat(33))),
            "/x?redacted=redacted"
        );
    }

    #[test]
    fn paths_without_a_query_and_absolute_forms_show_the_path_only() {
        assert_eq!(shown("/healthz"), "/healthz");
        assert_eq!(
            shown("http://user:pass@example.com/oauth/token?x=1"),
            "/oauth/token?x=redacted"
        );
    }
}
