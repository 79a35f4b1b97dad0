//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1, RFC 7636, RFC
//! 9700): read and checked in the order §4.1.2.1 asks. Until the client and its redirect URI
//! are known good, nothing is sent anywhere (the browser is shown an error page); after that,
//! every refusal goes back to that registered URI with `error` and `state`.

use std::collections::HashMap;

use crate::error::DomainError;
use crate::model::{Client, Status};
use crate::services::Services;

/// The OpenID Connect scopes Warden understands; every other scope value names a role.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A `scope` parameter with the OpenID Connect values taken out: the role names it asks for.
pub fn without_oidc_scopes(scope: &str) -> String {
    scope
        .split(' ')
        .filter(|s| !s.is_empty() && !OIDC_SCOPES.contains(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `scope` a token response names for a session signed in through a code: its OpenID
/// Connect scopes, then the roles it was narrowed to.
pub fn granted_scope(oidc: &str, roles: Option<&str>) -> String {
    let mut all: Vec<&str> = oidc.split(' ').filter(|s| !s.is_empty()).collect();
    all.extend(
        roles
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty()),
    );
    all.join(" ")
}

/// The longest `state` or `nonce` accepted.
const MAX_OPAQUE: usize = 512;

/// Where an answer may be sent: a client and one of its registered redirect URIs.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The client, active.
    pub client: Client,
    /// The redirect URI, exactly as registered.
    pub redirect_uri: String,
    /// The client's `state`, returned as given.
    pub state: Option<String>,
}

impl Recipient {
    /// The redirect carrying `params` (and `state`, and `iss` as RFC 9207 asks).
    pub fn redirect(&self, issuer: &str, params: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        let joiner = if self.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{joiner}{query}", self.redirect_uri)
    }
}

/// `prompt` (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: answer without showing any page, or fail.
    pub none: bool,
    /// `login`: authenticate again even with a live browser session.
    pub login: bool,
    /// `consent`: ask for consent even for a first-party client.
    pub consent: bool,
    /// `select_account`: accepted (a browser holds one session, so there is nothing to pick).
    pub select_account: bool,
}

/// An authorization request, checked.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    /// Who gets the answer.
    pub recipient: Recipient,
    /// The OpenID Connect scopes asked for (`openid`, `profile`, `email`, `offline_access`).
    pub oidc_scopes: Vec<String>,
    /// Role names asked for, narrowing the tokens (space-separated), if any.
    pub roles: Option<String>,
    /// The client's nonce, put into the ID token.
    pub nonce: Option<String>,
    /// The PKCE `S256` challenge.
    pub code_challenge: String,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` in seconds: authenticate again when the last authentication is older.
    pub max_age: Option<i64>,
    /// `login_hint`: prefills the login page.
    pub login_hint: Option<String>,
    /// The account (id or name) to sign in to, for people in several (a Warden parameter).
    pub account: Option<String>,
}

impl AuthorizeRequest {
    /// Whether an ID token is asked for.
    pub fn wants_id_token(&self) -> bool {
        self.oidc_scopes.iter().any(|s| s == "openid")
    }

    /// The account the request enters, when it says: the one it names, or the account its
    /// application belongs to (which signs people in to that account only).
    pub fn entered_account(&self) -> Option<String> {
        self.account
            .clone()
            .or_else(|| self.recipient.client.account_id.map(|a| a.to_string()))
    }

    /// Everything the consent page lists and a remembered consent must cover: the OpenID
    /// scopes, the roles, and the account asked for (`account:<id or name>`), so allowing an
    /// application in one account does not allow it in another.
    pub fn asked_for(&self) -> Vec<String> {
        let mut all = self.oidc_scopes.clone();
        all.extend(
            self.roles
                .iter()
                .flat_map(|r| r.split(' '))
                .map(str::to_owned),
        );
        if let Some(account) = &self.account {
            all.push(format!("account:{account}"));
        }
        all
    }
}

/// Why an authorization request cannot go on.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or the redirect URI cannot be trusted: tell the person, send nothing.
    Page(String),
    /// Send the error back to the client (RFC 6749 §4.1.2.1).
    Redirect {
        /// The registered recipient.
        recipient: Box<Recipient>,
        /// The OAuth error code.
        error: &'static str,
        /// What went wrong.
        description: String,
    },
    /// Warden could not answer (busy, storage).
    Domain(DomainError),
}

impl From<DomainError> for AuthorizeError {
    fn from(err: DomainError) -> Self {
        Self::Domain(err)
    }
}

impl From<crate::error::StoreError> for AuthorizeError {
    fn from(err: crate::error::StoreError) -> Self {
        Self::Domain(err.into())
    }
}

impl AuthorizeError {
    /// A refusal sent back to `recipient`.
    pub fn redirect(
        recipient: &Recipient,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self::Redirect {
            recipient: Box::new(recipient.clone()),
            error,
            description: description.into(),
        }
    }
}

/// The parameters of a request, as pairs in order; a parameter given twice is kept twice so
/// the check can refuse it.
pub type Pairs = Vec<(String, String)>;

/// Reads and checks an authorization request.
pub async fn read(services: &Services, pairs: &Pairs) -> Result<AuthorizeRequest, AuthorizeError> {
    let mut params: HashMap<&str, &str> = HashMap::new();
    let mut repeated: Vec<&str> = Vec::new();
    for (name, value) in pairs {
        if value.is_empty() {
            continue;
        }
        if params.insert(name, value).is_some() {
            repeated.push(name);
        }
    }
    if let Some(name) = repeated
        .iter()
        .find(|n| matches!(**n, "client_id" | "redirect_uri"))
    {
        return Err(AuthorizeError::Page(format!(
            "the parameter `{name}` is repeated"
        )));
    }
    // A percent-encoding that is not UTF-8 was decoded lossily: `state` would not come back
    // as sent.
    if params
        .iter()
        .any(|(n, v)| n.contains('\u{FFFD}') || v.contains('\u{FFFD}'))
    {
        return Err(AuthorizeError::Page(
            "the request holds a percent-encoding that is not UTF-8".into(),
        ));
    }
    if params.values().any(|v| !crate::json::storable(v)) {
        return Err(AuthorizeError::Page(
            "the request holds characters no parameter may hold".into(),
        ));
    }
    let recipient = recipient(services, &params).await?;
    let refuse = |error, why: &str| Err(AuthorizeError::redirect(&recipient, error, why));
    if let Some(name) = repeated.first() {
        return refuse(
            "invalid_request",
            &format!(
                "the parameter `{}` is repeated",
                crate::identity::clip(name)
            ),
        );
    }
    if params.contains_key("request") || params.contains_key("request_uri") {
        return refuse(
            "request_not_supported",
            "request objects are not supported; send the parameters in the query",
        );
    }
    if !recipient
        .client
        .grant_types
        .iter()
        .any(|g| g == "authorization_code")
    {
        return refuse(
            "unauthorized_client",
            "this client may not use the authorization code grant",
        );
    }
    match params.get("response_type").copied() {
        Some("code") => {}
        None => return refuse("invalid_request", "`response_type` is required"),
        Some(_) => {
            return refuse(
                "unsupported_response_type",
                "only `response_type=code` is supported",
            )
        }
    }
    if params
        .get("response_mode")
        .is_some_and(|mode| *mode != "query")
    {
        return refuse("invalid_request", "only `response_mode=query` is supported");
    }
    // PKCE for every client (RFC 9700 §2.1.1), S256 only: `plain` would hand the verifier to
    // whoever sees the request.
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, _) => {
            return refuse(
                "invalid_request",
                "PKCE is required: send `code_challenge` and `code_challenge_method=S256`",
            )
        }
        (Some(_), Some(&"S256")) => params["code_challenge"],
        (Some(_), _) => return refuse("invalid_request", "`code_challenge_method` must be `S256`"),
    };
    if code_challenge.len() != 43
        || !code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return refuse(
            "invalid_request",
            "`code_challenge` must be the base64url SHA-256 of the verifier (43 characters)",
        );
    }
    let mut oidc_scopes = Vec::new();
    let mut roles = Vec::new();
    for scope in params
        .get("scope")
        .copied()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        if OIDC_SCOPES.contains(&scope) {
            if !oidc_scopes.iter().any(|s| s == scope) {
                oidc_scopes.push(scope.to_owned());
            }
        } else if crate::identity::RoleName::parse(scope).is_ok() {
            if !roles.contains(&scope) {
                roles.push(scope);
            }
        } else {
            return refuse(
                "invalid_scope",
                &format!(
                    "the scope `{}` is neither an OpenID Connect scope nor a role name",
                    crate::identity::clip(scope)
                ),
            );
        }
    }
    let nonce = params.get("nonce").map(|n| (*n).to_owned());
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_OPAQUE) {
        return refuse("invalid_request", "`nonce` is too long");
    }
    let mut prompt = Prompt::default();
    for value in params
        .get("prompt")
        .copied()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => prompt.select_account = true,
            _ => {
                return refuse(
                    "invalid_request",
                    "`prompt` takes `none`, `login`, `consent` or `select_account`",
                )
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
        return refuse(
            "invalid_request",
            "`prompt=none` cannot be combined with other values",
        );
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(age) if age >= 0 => Some(age),
            _ => {
                return refuse(
                    "invalid_request",
                    "`max_age` must be a non-negative number of seconds",
                )
            }
        },
    };
    Ok(AuthorizeRequest {
        recipient: recipient.clone(),
        oidc_scopes,
        roles: (!roles.is_empty()).then(|| roles.join(" ")),
        nonce,
        code_challenge: code_challenge.to_owned(),
        prompt,
        max_age,
        login_hint: params
            .get("login_hint")
            .map(|h| crate::identity::clip(h).to_owned()),
        account: params.get("account").map(|a| (*a).to_owned()),
    })
}

/// The client and redirect URI, or an error page: an unknown or disabled client, a missing
/// redirect URI, or one not registered exactly (a suffix, a userinfo part, a changed case or
/// encoding, a fragment) sends nothing anywhere.
async fn recipient(
    services: &Services,
    params: &HashMap<&str, &str>,
) -> Result<Recipient, AuthorizeError> {
    let client_id = params
        .get("client_id")
        .ok_or_else(|| AuthorizeError::Page("the request names no client (`client_id`)".into()))?;
    let unknown = || AuthorizeError::Page("the application that sent you here is unknown".into());
    if client_id.len() > 128 {
        return Err(unknown());
    }
    let client = services
        .store
        .client_by_client_id(client_id)
        .await?
        .map(|record| record.client)
        .filter(|client| client.status == Status::Active)
        .ok_or_else(unknown)?;
    if let Some(account) = &client.account_id {
        let active = services
            .store
            .account(account)
            .await?
            .is_some_and(|a| a.status == Status::Active);
        if !active {
            return Err(unknown());
        }
    }
    let redirect_uri = params.get("redirect_uri").ok_or_else(|| {
        AuthorizeError::Page("the request names no redirect URI (`redirect_uri`)".into())
    })?;
    if !client
        .sign_in
        .redirect_uris
        .iter()
        .any(|registered| registered == redirect_uri)
    {
        return Err(AuthorizeError::Page(
            "the redirect URI is not one the application registered; nothing was sent to it".into(),
        ));
    }
    let state = params.get("state").map(|s| (*s).to_owned());
    if state.as_ref().is_some_and(|s| s.len() > MAX_OPAQUE) {
        return Err(AuthorizeError::Page("`state` is too long".into()));
    }
    Ok(Recipient {
        redirect_uri: (*redirect_uri).to_owned(),
        client,
        state,
    })
}
