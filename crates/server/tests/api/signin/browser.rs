//! The test's browser and relying party: a cookie-keeping HTTP client that follows no
//! redirects, the pages' forms, and a client that signs people in.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{TestApp, PASSWORD};

pub const CALLBACK: &str = "http://127.0.0.1:9/callback";
pub const BYE: &str = "http://127.0.0.1:9/bye";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// base64url(SHA-256(VERIFIER)), RFC 7636 appendix B.
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A browser: keeps cookies, follows no redirects.
pub struct Browser {
    pub http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

/// A page or redirect, as the browser saw it.
pub struct Seen {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of a hidden form field.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let end = start + self.body[start..].find('"').unwrap();
        self.body[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
    }

    /// A query parameter of the redirect's location.
    pub fn param(&self, name: &str) -> Option<String> {
        let location = self.location();
        let query = location.split_once('?')?.1;
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub fn is_login_page(&self) -> bool {
        matches!(self.status, StatusCode::OK | StatusCode::UNAUTHORIZED)
            && self.body.contains("action=\"/oauth/login\"")
    }

    pub fn is_consent_page(&self) -> bool {
        self.body.contains("action=\"/oauth/consent\"")
    }
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn keep(&mut self, response: reqwest::Response) -> Seen {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Seen {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, url: &str) -> Seen {
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Seen {
        let response = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// Fills and sends the login form of `page`.
    pub async fn sign_in(
        &mut self,
        app: &TestApp,
        page: &Seen,
        user: &str,
        password: &str,
    ) -> Seen {
        assert!(page.is_login_page(), "not the login page: {}", page.body);
        let (csrf, request) = (page.field("csrf"), page.field("request"));
        self.post(
            &app.url("/oauth/login"),
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("username", user),
                ("password", password),
            ],
        )
        .await
    }

    /// Answers the consent page.
    pub async fn decide(&mut self, app: &TestApp, page: &Seen, decision: &str) -> Seen {
        assert!(
            page.is_consent_page(),
            "not the consent page: {}",
            page.body
        );
        let (csrf, request) = (page.field("csrf"), page.field("request"));
        let proof = page.field("proof");
        self.post(
            &app.url("/oauth/consent"),
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("proof", &proof),
                ("decision", decision),
            ],
        )
        .await
    }
}

/// A client that signs people in: its id, secret (confidential) and name.
pub struct WebClient {
    pub client_id: String,
    pub secret: Option<String>,
}

pub async fn web_client(app: &TestApp, extra: Value) -> WebClient {
    let mut body = json!({
        "name": "Notes",
        "redirect_uris": [CALLBACK],
        "post_logout_redirect_uris": [BYE],
        "grant_types": ["authorization_code", "refresh_token"],
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let reply = app.post("/v1/clients", &app.admin_token, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    WebClient {
        client_id: reply.body["client_id"].as_str().unwrap().to_owned(),
        secret: reply.body["client_secret"].as_str().map(str::to_owned),
    }
}

pub fn authorize_url(app: &TestApp, client: &WebClient, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", CALLBACK),
        ("scope", "openid profile email"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    format!(
        "{}?{}",
        app.url("/oauth/authorize"),
        serde_urlencoded::to_string(&params).unwrap()
    )
}

/// Redeems a code at the token endpoint.
pub async fn redeem(
    app: &TestApp,
    client: &WebClient,
    code: &str,
    verifier: &str,
) -> crate::helpers::Reply {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("client_id", client.client_id.as_str()),
    ];
    if !verifier.is_empty() {
        form.push(("code_verifier", verifier));
    }
    if let Some(secret) = &client.secret {
        form.push(("client_secret", secret));
    }
    app.token_request(&form).await
}

pub async fn refresh(app: &TestApp, client: &WebClient, token: &str) -> crate::helpers::Reply {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", client.client_id.as_str()),
    ];
    if let Some(secret) = &client.secret {
        form.push(("client_secret", secret));
    }
    app.token_request(&form).await
}

/// Signs `user` in through the pages (consenting when asked) and returns the code.
pub async fn sign_in_for_code(
    app: &TestApp,
    browser: &mut Browser,
    client: &WebClient,
    user: &str,
) -> String {
    let page = browser.get(&authorize_url(app, client, &[])).await;
    let mut seen = if page.is_login_page() {
        browser.sign_in(app, &page, user, PASSWORD).await
    } else {
        page
    };
    if seen.is_consent_page() {
        seen = browser.decide(app, &seen, "allow").await;
    }
    assert_eq!(seen.status, StatusCode::SEE_OTHER, "{}", seen.body);
    assert!(seen.location().starts_with(CALLBACK), "{}", seen.location());
    assert_eq!(seen.param("state").as_deref(), Some("st-1"));
    assert_eq!(seen.param("iss").as_deref(), Some(app.base.as_str()));
    seen.param("code").expect("a code")
}
