//! The hosted pages: HTML templates compiled into the binary, filled with escaped values, and
//! the headers every page carries (no framing, no caching, no referrer, a strict content
//! security policy: no script at all). How they look is the theme's (`crate::theme`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::theme::Theme;

const LAYOUT: &str = include_str!("templates/layout.html");
const LOGIN: &str = include_str!("templates/login.html");
const CONSENT: &str = include_str!("templates/consent.html");
const LOGOUT: &str = include_str!("templates/logout.html");
const MESSAGE: &str = include_str!("templates/message.html");
const SECOND_FACTOR: &str = include_str!("templates/second_factor.html");
const ENROLMENT: &str = include_str!("templates/enrolment.html");
const RECOVERY: &str = include_str!("templates/recovery.html");

/// The pages' policy: nothing runs, nothing loads but the stylesheet (and a logo from HTTPS),
/// no page may be framed (clickjacking), forms post only where they were served.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Escapes text for HTML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Fills `{{name}}` placeholders with values already escaped, in one pass over the template:
/// a value is never read again, so a `{{…}}` inside one (a client's `state`) stays text.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match values.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push_str("{{");
                        out.push_str(name);
                        out.push_str("}}");
                    }
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A whole page: the layout around `body`, with the page headers.
fn page(theme: &Theme, status: StatusCode, title: &str, body: &str) -> Response {
    let logo = theme.logo_url.as_ref().map_or_else(String::new, |url| {
        format!("<img class=\"logo\" src=\"{}\" alt=\"\">", escape(url))
    });
    let html = fill(
        LAYOUT,
        &[
            ("title", &escape(title)),
            ("product", &escape(&theme.product_name)),
            ("logo", &logo),
            ("body", body),
        ],
    );
    let mut response = (status, html).into_response();
    protect(&mut response);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The headers of every sign-in answer, page or redirect.
pub fn protect(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// What the login page shows.
pub struct LoginPage<'a> {
    /// The CSRF token of the form.
    pub csrf: &'a str,
    /// The authorization request, carried through the form.
    pub request: &'a str,
    /// The application's name.
    pub client: &'a str,
    /// Prefills the identifier.
    pub login_hint: &'a str,
    /// Why the last attempt failed.
    pub error: Option<&'a str>,
}

/// The login page.
pub fn login(theme: &Theme, status: StatusCode, view: &LoginPage<'_>) -> Response {
    let message = view.error.map_or_else(String::new, |why| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(why))
    });
    let body = fill(
        LOGIN,
        &[
            ("message", &message),
            ("csrf", &escape(view.csrf)),
            ("request", &escape(view.request)),
            ("client", &escape(view.client)),
            ("login_hint", &escape(view.login_hint)),
        ],
    );
    page(theme, status, "Sign in", &body)
}

/// What the second-factor page shows.
pub struct SecondFactorPage<'a> {
    /// Where the form posts: the sign-in's second step, or the self-service setup.
    pub action: &'a str,
    /// The CSRF token of the form.
    pub csrf: &'a str,
    /// The authorization request, carried through the form.
    pub request: &'a str,
    /// A hidden field the form carries, name and value: the sealed proof of the password
    /// (`pending`) at sign-in, the fingerprint of the key shown (`enrolment`) at the setup.
    pub carried: (&'a str, &'a str),
    /// For a person enrolling: the `otpauth://` URI and the key in base32.
    pub enrolment: Option<(&'a str, &'a str)>,
    /// Why the last code failed.
    pub error: Option<&'a str>,
}

/// The second-factor page: a code (or a recovery code), or, enrolling, the QR code first.
pub fn second_factor(theme: &Theme, status: StatusCode, view: &SecondFactorPage<'_>) -> Response {
    let message = view.error.map_or_else(String::new, |why| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(why))
    });
    let (enrolment, label, hint, title) = match view.enrolment {
        Some((uri, secret)) => (
            fill(
                ENROLMENT,
                &[("qr", &qr_svg(uri)), ("secret", &escape(secret))],
            ),
            "Six-digit code from the app",
            "",
            "Set up a second factor",
        ),
        None => (
            String::new(),
            "Six-digit code from your authenticator app",
            "Lost your phone? Enter one of your recovery codes instead.",
            "Two-step verification",
        ),
    };
    let body = fill(
        SECOND_FACTOR,
        &[
            ("message", &message),
            ("enrolment", &enrolment),
            ("csrf", &escape(view.csrf)),
            ("request", &escape(view.request)),
            ("action", view.action),
            (
                "pending",
                &format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    escape(view.carried.0),
                    escape(view.carried.1)
                ),
            ),
            ("label", label),
            ("hint", hint),
        ],
    );
    page(theme, status, title, &body)
}

/// A QR code of `text` as inline SVG (no script, no image request).
fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(192, 192)
                .quiet_zone(true)
                .build();
            // The XML declaration has no place inside an HTML document.
            match svg.find("<svg") {
                Some(at) => svg[at..].to_owned(),
                None => String::new(),
            }
        }
        Err(_) => String::new(),
    }
}

/// The recovery codes, shown once after enrolment, and the way on.
pub fn recovery(theme: &Theme, codes: &[String], continue_to: &str) -> Response {
    let items: String = codes
        .iter()
        .map(|c| format!("<li><code>{}</code></li>\n", escape(c)))
        .collect();
    let body = fill(
        RECOVERY,
        &[("codes", &items), ("continue", &escape(continue_to))],
    );
    page(theme, StatusCode::OK, "Save your recovery codes", &body)
}

/// Says in words what a scope value lets the application do.
fn describe(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are (your user id)".into(),
        "profile" => "See your name and username".into(),
        "email" => "See your email address".into(),
        "offline_access" => "Stay signed in while you are away".into(),
        account if account.starts_with("account:") => format!(
            "Act in the account <code>{}</code>",
            escape(account.trim_start_matches("account:"))
        ),
        role => format!("Act with your role <code>{}</code>", escape(role)),
    }
}

/// The consent page.
pub fn consent(
    theme: &Theme,
    csrf: &str,
    proof: &str,
    request: &str,
    client: &str,
    user: &str,
    scopes: &[String],
) -> Response {
    let mut items: String = scopes
        .iter()
        .map(|s| format!("<li>{}</li>\n", describe(s)))
        .collect();
    if items.is_empty() {
        items = "<li>Act for you with the roles you hold</li>\n".into();
    }
    let body = fill(
        CONSENT,
        &[
            ("csrf", &escape(csrf)),
            ("proof", &escape(proof)),
            ("request", &escape(request)),
            ("client", &escape(client)),
            ("user", &escape(user)),
            ("items", &items),
        ],
    );
    page(theme, StatusCode::OK, "Allow access?", &body)
}

/// The logout confirmation.
pub fn logout(theme: &Theme, csrf: &str, request: &str, client: Option<&str>) -> Response {
    let client = client.map_or_else(String::new, |name| {
        format!(" (asked by <strong>{}</strong>)", escape(name))
    });
    let body = fill(
        LOGOUT,
        &[
            ("product", &escape(&theme.product_name)),
            ("client", &client),
            ("csrf", &escape(csrf)),
            ("request", &escape(request)),
        ],
    );
    page(theme, StatusCode::OK, "Sign out?", &body)
}

/// A page that only says something: an error (`role="alert"`) or a notice.
pub fn message(
    theme: &Theme,
    status: StatusCode,
    title: &str,
    message: &str,
    hint: &str,
) -> Response {
    let role = if status.is_success() {
        "status"
    } else {
        "alert"
    };
    let body = fill(
        MESSAGE,
        &[
            ("role", role),
            ("message", &escape(message)),
            ("hint", &escape(hint)),
        ],
    );
    page(theme, status, title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_inside_a_value_stays_text() {
        let page = fill(
            "<p>{{a}}</p><p>{{b}}</p>",
            &[("a", "{{b}}"), ("b", "secret")],
        );
        assert_eq!(page, "<p>{{b}}</p><p>secret</p>");
    }

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn theme_refuses_what_could_break_out_of_the_stylesheet() {
        assert!(Theme::read(None, None, Some("red; } body { display:none".into())).is_err());
        assert!(Theme::read(None, Some("javascript:alert(1)".into()), None).is_err());
        assert!(Theme::read(None, Some("http://logo.example/x.png".into()), None).is_err());
        let theme = Theme::read(
            Some("Acme".into()),
            Some("https://acme.example/l.png".into()),
            Some("#FFCC00".into()),
        )
        .unwrap();
        assert_eq!(theme.accent_color, "#ffcc00");
        // A light accent gets dark button text, so the contrast holds.
        assert!(theme.stylesheet().contains("--on-accent: #111111"));
        assert!(Theme::default()
            .stylesheet()
            .contains("--on-accent: #ffffff"));
    }

    #[test]
    fn pages_forbid_framing_and_scripts() {
        let response = message(
            &Theme::default(),
            StatusCode::BAD_REQUEST,
            "Error",
            "<b>x</b>",
            "",
        );
        let headers = response.headers();
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"));
        assert!(csp.starts_with("default-src 'none'"));
    }
}
