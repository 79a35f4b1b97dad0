"""OpenID Connect interop: Authlib as a relying party against a running Warden, no browser.

A `requests.Session` plays the browser: it opens the authorization URL Authlib builds, fills
the hosted login and consent forms, and hands the redirect back to Authlib, which exchanges
the code (PKCE S256) for tokens. The ID token is verified through discovery and the JWKS
(joserfc with Authlib's OIDC claim rules, and PyJWT), then userinfo, refresh and RP-initiated
logout. Then what must be refused: code replay (which also revokes what the code issued),
PKCE missing or wrong, `plain`, unregistered redirect URIs, a code used by another client,
login CSRF, session fixation, framing; and SSO, `prompt=none` and `prompt=login`. Last, TOTP:
enrolment through the API, the password grant's refusal, the hosted second-factor step with
`amr` in the ID token, no code accepted twice, a recovery code, and an administrator's reset.
Starts its own Warden (the binary path is the first argument) on a free port with a
throw-away SQLite store. Prints "N passed, N failed".
"""

import base64
import hashlib
import hmac
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, unquote, urljoin, urlsplit

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

PASSWORD = "interop admin passphrase"
ADMIN = "admin@localhost"
# Redirect URIs on the discard port: nothing listens, the tests read Location and stop there.
CALLBACK = "http://127.0.0.1:9/callback"
CALLBACK_2 = "http://127.0.0.1:9/callback2"
BYE = "http://127.0.0.1:9/bye"
SCOPE = "openid profile email"
REDIRECTS = (301, 302, 303, 307, 308)
results = []


def check(name, condition, detail=""):
    results.append((name, bool(condition)))
    print(("PASS " if condition else "FAIL ") + name + ("" if condition else f"  {detail}"), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary):
    port = free_port()
    data = tempfile.mkdtemp()
    env = dict(os.environ, WARDEN_LISTEN=f"127.0.0.1:{port}", WARDEN_DATA_DIR=data, WARDEN_ADMIN_PASSWORD=PASSWORD,
               WARDEN_ARGON2_MEMORY_KIB="64", WARDEN_ARGON2_ITERATIONS="1", WARDEN_LOG="warn")
    env.pop("DATABASE_URL", None)
    env.pop("WARDEN_SIGNING_ALGORITHM", None)
    process = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return process, base
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("warden did not start")


# --- HTML forms -----------------------------------------------------------------------------

class Forms(HTMLParser):
    """Every form of a page: action, method, inputs (name -> attributes) and buttons; and labels."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.labels = []
        self._button = None
        self._label = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "method": attrs.get("method", "get").lower(),
                               "inputs": {}, "buttons": []})
        elif tag == "input" and self.forms and "name" in attrs:
            self.forms[-1]["inputs"][attrs["name"]] = attrs
        elif tag == "button" and self.forms:
            self._button = dict(attrs, text="")
            self.forms[-1]["buttons"].append(self._button)
        elif tag == "label":
            self._label = {"for": attrs.get("for", ""), "text": ""}
            self.labels.append(self._label)

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None
        elif tag == "label":
            self._label = None

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data
        if self._label is not None:
            self._label["text"] += data


def parse(html):
    forms = Forms()
    forms.feed(html or "")
    return forms


def form_for(html, path):
    """The form posting to `path`, or None."""
    for form in parse(html).forms:
        if urlsplit(form["action"]).path == path:
            return form
    return None


def hidden(form):
    return {name: a.get("value", "") for name, a in form["inputs"].items() if a.get("type", "text").lower() == "hidden"}


def is_login_page(response):
    return response.status_code == 200 and form_for(response.text, "/oauth/login") is not None


def query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def session_cookies(response):
    """The raw `warden_session` Set-Cookie headers of one response."""
    headers = response.raw.headers.getlist("Set-Cookie") if response.raw is not None else []
    return [h for h in headers if h.strip().lower().startswith("warden_session=")]


def session_value(browser):
    """The browser's `warden_session` value (whatever its path), or None."""
    values = [c.value for c in browser.http.cookies if c.name == "warden_session" and c.value]
    return values[-1] if values else None


def sets_live_session(response):
    """Whether the response sets a non-empty `warden_session` that is not being cleared."""
    for header in session_cookies(response):
        value = header.split(";", 1)[0].split("=", 1)[1].strip().strip('"')
        cleared = re.search(r";\s*max-age=0\b", header, re.I) or re.search(r";\s*expires=[^;]*19[67]\d", header, re.I)
        if value and not cleared:
            return True
    return False


# --- the browser ----------------------------------------------------------------------------

class Browser:
    """A cookie jar that follows Warden's own redirects and stops at the first one leaving it."""

    def __init__(self, base):
        self.base = base
        self.http = requests.Session()
        self.responses = []

    def request(self, method, url, **kwargs):
        response = self.http.request(method, urljoin(self.base, url), allow_redirects=False, timeout=30, **kwargs)
        self.responses.append(response)
        return response

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)


    def inside(self, response):
        """Follows redirects while they stay on Warden; answers the last response."""
        for _ in range(10):
            if response.status_code not in REDIRECTS:
                return response
            location = urljoin(response.url, response.headers.get("Location", ""))
            if not location.startswith(self.base + "/"):
                return response
            response = self.get(location)
        return response

    def drive(self, url, username=ADMIN, password=PASSWORD, decision="allow"):
        """Opens `url` and fills whatever hosted page comes (login, consent) until Warden sends
        the browser away. Answers (Location or None, pages seen, last response)."""
        pages = []
        response = self.inside(self.get(url))
        for _ in range(6):
            if response.status_code in REDIRECTS:
                return urljoin(response.url, response.headers["Location"]), pages, response
            login = form_for(response.text, "/oauth/login") if response.status_code == 200 else None
            consent = form_for(response.text, "/oauth/consent") if response.status_code == 200 else None
            if login:
                pages.append("login")
                data = dict(hidden(login), username=username, password=password)
                response = self.inside(self.post(login["action"] or "/oauth/login", data=data))
            elif consent:
                pages.append("consent")
                data = dict(hidden(consent), decision=decision)
                response = self.inside(self.post(consent["action"] or "/oauth/consent", data=data))
            else:
                pages.append(f"unexpected {response.status_code}")
                return None, pages, response
        return None, pages, response


# --- helpers ---------------------------------------------------------------------------------

def pkce():
    verifier = generate_token(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(base, client_id, redirect_uri=CALLBACK, challenge=None, **extra):
    """A hand-built authorization URL (for requests Authlib would not build)."""
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": SCOPE,
              "state": generate_token(16), "nonce": generate_token(16)}
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    params = {k: v for k, v in params.items() if v is not None}
    return requests.Request("GET", base + "/oauth/authorize", params=params).prepare().url, params


def basic(client):
    pair = quote(client["client_id"], safe="") + ":" + quote(client["client_secret"], safe="")
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def token_request(base, client, **data):
    """A raw token request with client_secret_basic (or client_id alone for a public client)."""
    headers = {}
    if client.get("client_secret"):
        headers = basic(client)
    else:
        data["client_id"] = client["client_id"]
    response = requests.post(base + "/oauth/token", data=data, headers=headers, timeout=30)
    try:
        body = response.json()
    except ValueError:
        body = {"raw": response.text[:200]}
    return response.status_code, body


def exchange(base, client, code, verifier, redirect_uri=CALLBACK):
    return token_request(base, client, grant_type="authorization_code", code=code, redirect_uri=redirect_uri,
                         code_verifier=verifier)


def refresh(base, client, refresh_token):
    return token_request(base, client, grant_type="refresh_token", refresh_token=refresh_token)


def is_invalid_grant(answer):
    status, body = answer
    return status == 400 and body.get("error") == "invalid_grant"


def userinfo_status(disco, access_token):
    return requests.get(disco["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"},
                        timeout=30).status_code


def fresh_code(browser, base, client, redirect_uri=CALLBACK, **extra):
    """Runs the hosted pages for `client` and answers (code, verifier, location)."""
    verifier, challenge = pkce()
    url, params = authorize_url(base, client["client_id"], redirect_uri, challenge, **extra)
    location, _, _ = browser.drive(url)
    code = query(location).get("code") if location else None
    return code, verifier, location


def register(base, admin, name, client_type="confidential", first_party=False):
    body = {"name": name, "client_type": client_type, "redirect_uris": [CALLBACK, CALLBACK_2],
            "post_logout_redirect_uris": [BYE], "first_party": first_party,
            "grant_types": ["authorization_code", "refresh_token"]}
    response = requests.post(base + "/v1/clients", json=body, headers={"Authorization": f"Bearer {admin}"},
                             timeout=30)
    check(f"registering the {client_type} client {name!r} answers 201", response.status_code == 201,
          f"{response.status_code} {response.text[:300]}")
    created = response.json()
    created["name"] = name
    return created


def framing_refused(response):
    csp = response.headers.get("Content-Security-Policy", "")
    return (response.headers.get("X-Frame-Options", "").upper() == "DENY"
            and re.search(r"frame-ancestors\s+'none'", csp) is not None)


def verify_id_token(disco, jwks, id_token, client_id, nonce, access_token, label=""):
    """Verifies signature and claims with joserfc + Authlib's OIDC rules; answers the claims.
    `label` goes before each check's name (a later flow checks a second ID token)."""
    accepted = label + "joserfc + Authlib's CodeIDToken accept the ID token (signature, iss, aud, exp, nonce, azp, " \
        "at_hash)"
    header = jwt.get_unverified_header(id_token)
    algorithm = disco["id_token_signing_alg_values_supported"][0]
    check(label + "the ID token's header is typ JWT with the advertised alg and a JWKS kid",
          header.get("typ") == "JWT" and header.get("alg") == algorithm
          and header.get("kid") in [k.get("kid") for k in jwks["keys"]], header)
    try:
        decoded = jose_jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=[algorithm])
        claims = CodeIDToken(decoded.claims, decoded.header,
                             options={"iss": {"essential": True, "value": disco["issuer"]},
                                      "aud": {"essential": True, "value": client_id}},
                             params={"nonce": nonce, "client_id": client_id, "access_token": access_token})
        claims.validate()
        check(accepted, True)
    except Exception as err:  # noqa: BLE001 - any refusal is the failure being checked
        check(accepted, False, repr(err))
        claims = jwt.decode(id_token, options={"verify_signature": False})
    try:
        key = jwt.PyJWKClient(disco["jwks_uri"]).get_signing_key_from_jwt(id_token)
        jwt.decode(id_token, key, algorithms=[algorithm], audience=client_id, issuer=disco["issuer"])
        check(label + "PyJWT verifies the ID token through the JWKS", True)
    except jwt.InvalidTokenError as err:
        check(label + "PyJWT verifies the ID token through the JWKS", False, repr(err))
    tampered = id_token[:-4] + ("AAAA" if not id_token.endswith("AAAA") else "BBBB")
    try:
        jose_jwt.decode(tampered, KeySet.import_key_set(jwks), algorithms=[algorithm])
        check(label + "a tampered ID token is refused", False)
    except Exception:  # noqa: BLE001
        check(label + "a tampered ID token is refused", True)
    return dict(claims)


# --- the tests -------------------------------------------------------------------------------

def discovery(base):
    response = requests.get(base + "/.well-known/openid-configuration", timeout=30)
    check("discovery answers 200 JSON", response.status_code == 200
          and response.headers.get("Content-Type", "").startswith("application/json"), response.status_code)
    disco = response.json()
    expected = {"issuer": base, "authorization_endpoint": base + "/oauth/authorize",
                "token_endpoint": base + "/oauth/token", "userinfo_endpoint": base + "/userinfo",
                "jwks_uri": base + "/.well-known/jwks.json", "end_session_endpoint": base + "/oauth/logout",
                "revocation_endpoint": base + "/oauth/revoke"}
    wrong = {k: disco.get(k) for k, v in expected.items() if disco.get(k) != v}
    check("discovery names the issuer and every endpoint", not wrong, wrong)
    check("discovery: code flow with S256 only, public subjects",
          disco.get("code_challenge_methods_supported") == ["S256"]
          and disco.get("response_types_supported") == ["code"]
          and disco.get("subject_types_supported") == ["public"], disco)
    algs = disco.get("id_token_signing_alg_values_supported")
    check("discovery: the ID token alg is the signing key's (ES256 by default)", algs == ["ES256"], algs)
    check("discovery: scopes include openid, profile and email",
          {"openid", "profile", "email"} <= set(disco.get("scopes_supported") or []), disco.get("scopes_supported"))
    return disco


def login_page(base, web):
    """The login page itself, login CSRF, a wrong password and session fixation (one browser)."""
    browser = Browser(base)
    browser.http.cookies.set("warden_session", "fixated-by-an-attacker", domain="127.0.0.1", path="/")
    before = {"fixated-by-an-attacker"}
    url, _ = authorize_url(base, web["client_id"], CALLBACK, pkce()[1])
    page = browser.inside(browser.get(url))
    for header in session_cookies(page):
        before.add(header.split(";", 1)[0].split("=", 1)[1])
    check("authorize without a session shows the login page (200 HTML)",
          is_login_page(page) and page.headers.get("Content-Type", "").startswith("text/html"),
          f"{page.status_code} {page.headers.get('Content-Type')} {page.text[:200]}")
    login = form_for(page.text, "/oauth/login") or {"inputs": {}, "buttons": [], "method": ""}
    inputs = login["inputs"]
    check("the login form posts username, password, csrf and request",
          login["method"] == "post" and {"username", "password", "csrf", "request"} <= set(inputs)
          and inputs.get("password", {}).get("type") == "password"
          and inputs.get("csrf", {}).get("type") == "hidden" and inputs.get("request", {}).get("type") == "hidden",
          login)
    labels = parse(page.text).labels
    check("the username field is labelled 'Email or username'",
          inputs.get("username", {}).get("id") == "username"
          and any(lab["for"] in ("username", "") and "Email or username" in lab["text"] for lab in labels), labels)
    check("the login form has a 'Sign in' submit button",
          any(b.get("type", "submit") == "submit" and b["text"].strip() == "Sign in" for b in login["buttons"]),
          login["buttons"])
    check("the login page refuses framing (X-Frame-Options DENY, frame-ancestors 'none')", framing_refused(page),
          dict(page.headers))
    fields = hidden(login)

    # Login CSRF: the right password without the form's csrf, or with a wrong one, signs nobody in.
    for label, data in [("without csrf", {k: v for k, v in fields.items() if k != "csrf"}),
                        ("with a wrong csrf", dict(fields, csrf="forged" + fields.get("csrf", "x")[6:]))]:
        response = browser.post("/oauth/login", data=dict(data, username=ADMIN, password=PASSWORD))
        check(f"POST /oauth/login {label} answers 400 or 403 and sets no session",
              response.status_code in (400, 403) and not sets_live_session(response),
              f"{response.status_code} {session_cookies(response)}")
    # A form taken from another browser (the attacker's own) is not valid in this one.
    attacker = Browser(base)
    theirs = attacker.inside(attacker.get(authorize_url(base, web["client_id"], CALLBACK, pkce()[1])[0]))
    their_fields = hidden(form_for(theirs.text, "/oauth/login") or {"inputs": {}})
    victim = Browser(base)
    victim.inside(victim.get(url))
    response = victim.post("/oauth/login", data=dict(their_fields, username=ADMIN, password=PASSWORD))
    check("a login form from another browser is refused (400/403, no session)",
          response.status_code in (400, 403) and not sets_live_session(response),
          f"{response.status_code} {session_cookies(response)}")

    # A wrong password: the page again with a message, no session.
    response = browser.post("/oauth/login", data=dict(fields, username=ADMIN, password="not the passphrase"))
    check("a wrong password answers the login page with 'incorrect' and no session",
          response.status_code in (200, 400, 401, 429) and "incorrect" in response.text.lower()
          and form_for(response.text, "/oauth/login") is not None and not sets_live_session(response),
          f"{response.status_code} {response.text[:300]}")
    again = browser.inside(browser.get(url))
    check("after refused logins authorize still shows the login page", is_login_page(again), again.status_code)
    for header in session_cookies(again):
        before.add(header.split(";", 1)[0].split("=", 1)[1])

    # The right password: a session cookie that is new, HttpOnly, SameSite=Lax, not Secure.
    start_at = len(browser.responses)
    location, pages, last = browser.drive(url)
    set_cookies = [h for r in browser.responses[start_at:] for h in session_cookies(r)]
    live = [h for h in set_cookies if h.split(";", 1)[0].split("=", 1)[1]]
    attrs = live[-1].lower() if live else ""
    check("signing in sets warden_session HttpOnly, SameSite=Lax, not Secure on loopback",
          live and "httponly" in attrs and "samesite=lax" in attrs and not re.search(r";\s*secure\b", attrs),
          set_cookies)
    issued = live[-1].split(";", 1)[0].split("=", 1)[1] if live else None
    check("the session cookie after sign-in is none of the values before it (no fixation)",
          issued is not None and issued not in before, (issued, before))
    planted = Browser(base)
    planted.http.cookies.set("warden_session", "fixated-by-an-attacker", domain="127.0.0.1", path="/")
    check("the planted cookie signs nobody in", is_login_page(planted.inside(planted.get(url))))
    # The planted cookie has done its part: the later groups use this browser's real session.
    for cookie in [c for c in browser.http.cookies if c.value == "fixated-by-an-attacker"]:
        browser.http.cookies.clear(cookie.domain, cookie.path, cookie.name)
    check("sign-in then consent then a redirect to the client", pages == ["login", "consent"] and location
          and location.startswith(CALLBACK + "?") and "code" in query(location), (pages, location))
    return browser


def consent_page(base, web):
    """The consent page in a signed-in browser: the client's name, both buttons, no framing."""
    browser = Browser(base)
    url, _ = authorize_url(base, web["client_id"], CALLBACK, pkce()[1])
    page = browser.inside(browser.get(url))
    login = form_for(page.text, "/oauth/login") or {"inputs": {}, "action": "/oauth/login"}
    consent = browser.inside(browser.post(login["action"] or "/oauth/login",
                                          data=dict(hidden(login), username=ADMIN, password=PASSWORD)))
    form = form_for(consent.text, "/oauth/consent") if consent.status_code == 200 else None
    check("after sign-in a third-party client shows the consent page", form is not None,
          f"{consent.status_code} {consent.text[:200]}")
    form = form or {"inputs": {}, "buttons": [], "method": ""}
    decisions = {(b.get("name"), b.get("value"), b["text"].strip()) for b in form["buttons"]}
    check("the consent form posts csrf and request with Allow and Deny decisions",
          form["method"] == "post" and {"csrf", "request"} <= set(hidden(form))
          and {("decision", "allow", "Allow"), ("decision", "deny", "Deny")} <= decisions, form)
    check("the consent page names the client", web["name"] in consent.text, consent.text[:300])
    check("the consent page refuses framing", framing_refused(consent), dict(consent.headers))


def code_flow(base, disco, jwks, browser, web, admin):
    """Authlib builds the request, the browser signs in, Authlib exchanges the code."""
    client = OAuth2Session(client_id=web["client_id"], client_secret=web["client_secret"], scope=SCOPE,
                           redirect_uri=CALLBACK, code_challenge_method="S256",
                           token_endpoint_auth_method="client_secret_basic")
    verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(disco["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    check("Authlib's authorization URL carries an S256 challenge",
          query(url).get("code_challenge_method") == "S256" and query(url).get("code_challenge"), url)
    location, pages, last = browser.drive(url)
    params = query(location or "")
    check("signed in: straight back to the client with code, state and iss (RFC 9207)",
          last.status_code == 303 and (location or "").startswith(CALLBACK + "?") and params.get("code")
          and params.get("state") == state and params.get("iss") == disco["issuer"] and "login" not in pages,
          (last.status_code, pages, location))
    token = client.fetch_token(disco["token_endpoint"], authorization_response=location, state=state,
                               code_verifier=verifier)
    check("Authlib exchanges the code: Bearer access token, refresh token, ID token, scope",
          token.get("token_type") == "Bearer" and token.get("access_token") and token.get("refresh_token")
          and token.get("id_token") and isinstance(token.get("expires_in"), int) and token["expires_in"] > 0
          and "openid" in str(token.get("scope", "")).split(), {k: v for k, v in token.items() if k != "id_token"})
    claims = verify_id_token(disco, jwks, token["id_token"], web["client_id"], nonce, token["access_token"])
    me = requests.get(base + "/v1/users/me", headers={"Authorization": f"Bearer {admin}"}, timeout=30).json()
    now = time.time()
    check("the ID token's sub is the user id, aud and azp the client, nonce echoed",
          claims.get("sub") == me.get("id") and claims.get("azp") == web["client_id"]
          and claims.get("aud") in (web["client_id"], [web["client_id"]]) and claims.get("nonce") == nonce, claims)
    check("the ID token carries auth_time, amr [pwd] and sid",
          isinstance(claims.get("auth_time"), int) and claims["auth_time"] <= now + 60
          and claims.get("amr") == ["pwd"] and claims.get("sid"), claims)
    check("the ID token's times make sense (iat now, exp later)",
          isinstance(claims.get("iat"), int) and abs(claims["iat"] - now) < 300 and claims.get("exp", 0) > now, claims)
    check("the email scope puts email and email_verified in the ID token",
          claims.get("email") == ADMIN and isinstance(claims.get("email_verified"), bool), claims)
    check("the profile scope puts preferred_username or name in the ID token",
          claims.get("preferred_username") or claims.get("name"), claims)

    info = client.get(disco["userinfo_endpoint"])
    body = info.json() if info.status_code == 200 else {}
    check("Authlib calls /userinfo (GET) with the access token",
          info.status_code == 200 and body.get("sub") == claims.get("sub") and body.get("email") == ADMIN,
          f"{info.status_code} {info.text[:200]}")
    posted = client.post(disco["userinfo_endpoint"])
    check("/userinfo answers POST too", posted.status_code == 200 and posted.json().get("sub") == claims.get("sub"),
          posted.status_code)
    for label, headers in [("without a token", {}), ("with a bad token", {"Authorization": "Bearer not-a-token"})]:
        refused = requests.get(disco["userinfo_endpoint"], headers=headers, timeout=30)
        check(f"/userinfo {label} answers 401 with WWW-Authenticate",
              refused.status_code == 401 and "bearer" in refused.headers.get("WWW-Authenticate", "").lower(),
              f"{refused.status_code} {refused.headers.get('WWW-Authenticate')}")

    renewed = client.refresh_token(disco["token_endpoint"], refresh_token=token["refresh_token"])
    check("Authlib refresh rotates the refresh token", renewed.get("refresh_token")
          and renewed["refresh_token"] != token["refresh_token"] and renewed.get("access_token"), renewed)
    check("the refreshed access token calls /userinfo", client.get(disco["userinfo_endpoint"]).status_code == 200)
    return {"token": renewed, "id_token": token["id_token"]}


def sessions_list(base, admin):
    response = requests.get(base + "/v1/users/me/sessions", headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    body = response.json() if response.status_code == 200 else {}
    items = body if isinstance(body, list) else body.get("items", [])
    check("/v1/users/me/sessions lists the browser session as client warden:browser",
          any(s.get("client_id") == "warden:browser" for s in items), f"{response.status_code} {str(body)[:300]}")


def sso(base, disco, browser, portal):
    """A second (first-party) client with the session cookie: a code at once, no page."""
    verifier, challenge = pkce()
    url, params = authorize_url(base, portal["client_id"], CALLBACK, challenge)
    response = browser.get(url)
    location = response.headers.get("Location", "")
    check("SSO: a second client's authorize redirects with a code, no login page",
          response.status_code == 303 and location.startswith(CALLBACK + "?") and query(location).get("code")
          and query(location).get("state") == params["state"],
          f"{response.status_code} {location} {response.text[:200]}")
    client = OAuth2Session(client_id=portal["client_id"], client_secret=portal["client_secret"], scope=SCOPE,
                           redirect_uri=CALLBACK, token_endpoint_auth_method="client_secret_post")
    token = client.fetch_token(disco["token_endpoint"], authorization_response=location, code_verifier=verifier)
    check("Authlib exchanges the SSO code with client_secret_post",
          token.get("id_token") and token.get("refresh_token"), token)
    # prompt=none with a session also answers a code.
    url, params = authorize_url(base, portal["client_id"], CALLBACK, pkce()[1], prompt="none")
    response = browser.get(url)
    check("prompt=none with a session redirects with a code",
          response.status_code == 303 and query(response.headers.get("Location", "")).get("code"),
          f"{response.status_code} {response.headers.get('Location')}")
    # prompt=login forces the login page although there is a session.
    url, _ = authorize_url(base, portal["client_id"], CALLBACK, pkce()[1], prompt="login")
    page = browser.inside(browser.get(url))
    check("prompt=login with a session shows the login page again", is_login_page(page),
          f"{page.status_code} {page.headers.get('Location')}")
    return token


def prompts(base, portal):
    browser = Browser(base)
    url, params = authorize_url(base, portal["client_id"], CALLBACK, pkce()[1], prompt="none")
    response = browser.get(url)
    answer = query(response.headers.get("Location", ""))
    check("prompt=none without a session redirects with error=login_required and the state",
          response.status_code in REDIRECTS and response.headers.get("Location", "").startswith(CALLBACK + "?")
          and answer.get("error") == "login_required" and answer.get("state") == params["state"],
          f"{response.status_code} {response.headers.get('Location')}")


def consent_decisions(base, browser, web, other):
    """Deny: access_denied with the state. prompt=consent asks again for a consented client."""
    verifier, challenge = pkce()
    url, params = authorize_url(base, other["client_id"], CALLBACK, challenge)
    location, pages, _ = browser.drive(url, decision="deny")
    answer = query(location or "")
    check("Deny on the consent page redirects with error=access_denied and the state",
          pages == ["consent"] and (location or "").startswith(CALLBACK + "?")
          and answer.get("error") == "access_denied" and answer.get("state") == params["state"]
          and "code" not in answer, (pages, location))
    url, _ = authorize_url(base, web["client_id"], CALLBACK, pkce()[1], prompt="consent")
    page = browser.inside(browser.get(url))
    check("prompt=consent shows the consent page to a signed-in browser",
          page.status_code == 200 and form_for(page.text, "/oauth/consent") is not None, page.status_code)


def replay(base, disco, browser, web):
    code, verifier, location = fresh_code(browser, base, web)
    first = exchange(base, web, code, verifier)
    check("a fresh code exchanges once", first[0] == 200 and first[1].get("refresh_token"), first)
    second = exchange(base, web, code, verifier)
    check("the same code a second time answers invalid_grant", is_invalid_grant(second), second)
    if first[0] == 200:
        check("after a replay the code's refresh token answers invalid_grant",
              is_invalid_grant(refresh(base, web, first[1]["refresh_token"])))
        check("after a replay the code's access token is refused by /userinfo",
              userinfo_status(disco, first[1]["access_token"]) == 401)
        introspected = requests.post(base + "/oauth/introspect", data={"token": first[1]["access_token"]},
                                     headers=basic(web), timeout=30).json()
        check("after a replay introspection says the access token is inactive", introspected.get("active") is False,
              introspected)


def pkce_and_binding(base, browser, web, other):
    code, verifier, _ = fresh_code(browser, base, web)
    check("a code without code_verifier answers invalid_grant",
          is_invalid_grant(token_request(base, web, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)))
    code, verifier, _ = fresh_code(browser, base, web)
    check("a code with the wrong code_verifier answers invalid_grant",
          is_invalid_grant(exchange(base, web, code, pkce()[0])))
    code, verifier, _ = fresh_code(browser, base, web)
    check("a code exchanged by another client answers invalid_grant",
          is_invalid_grant(exchange(base, other, code, verifier)))
    code, verifier, _ = fresh_code(browser, base, web)
    check("a code exchanged with another registered redirect_uri answers invalid_grant",
          is_invalid_grant(exchange(base, web, code, verifier, redirect_uri=CALLBACK_2)))

    plain = {"code_challenge": pkce()[0], "code_challenge_method": "plain"}
    for label, extra in [("code_challenge_method=plain", plain), ("no code_challenge", {})]:
        url, params = authorize_url(base, web["client_id"], CALLBACK, None, **extra)
        response = browser.get(url)
        answer = query(response.headers.get("Location", ""))
        check(f"authorize with {label} redirects with error=invalid_request and the state",
              response.status_code in REDIRECTS and response.headers.get("Location", "").startswith(CALLBACK + "?")
              and answer.get("error") == "invalid_request" and answer.get("state") == params["state"]
              and "code" not in answer, f"{response.status_code} {response.headers.get('Location')}")


def redirect_uris(base, web):
    browser = Browser(base)
    for label, uri in [("a suffix", CALLBACK + "x"), ("an extra path segment", CALLBACK + "/more"),
                       ("an added query", CALLBACK + "?next=1"), ("userinfo", "http://evil@127.0.0.1:9/callback"),
                       ("encoded dots", "http://127.0.0.1:9/x/%2e%2e/callback"),
                                      ("a fragment", CALLBACK + "#frag"), ("another host", "https://evil.example/callback")]:
        url, _ = authorize_url(base, web["client_id"], uri, pkce()[1])
        response = browser.get(url)
        check(f"an unregistered redirect_uri ({label}) answers a 400 page, never a redirect",
              response.status_code == 400 and "Location" not in response.headers
              and response.headers.get("Content-Type", "").startswith("text/html"),
              f"{response.status_code} {response.headers.get('Location')}")
    url, _ = authorize_url(base, "no-such-client", CALLBACK, pkce()[1])
    response = browser.get(url)
    check("an unknown client_id answers a 400 page, never a redirect",
          response.status_code == 400 and "Location" not in response.headers, response.status_code)


def public_client(base, disco, spa):
    browser = Browser(base)
    client = OAuth2Session(client_id=spa["client_id"], scope=SCOPE, redirect_uri=CALLBACK,
                           code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(disco["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    location, pages, _ = browser.drive(url)
    check("public client: sign-in and consent redirect with a code",
          pages == ["login", "consent"] and query(location or "").get("code"), (pages, location))
    try:
        token = client.fetch_token(disco["token_endpoint"], authorization_response=location, state=state,
                                   code_verifier=verifier)
    except Exception as err:  # noqa: BLE001
        check("public client: Authlib exchanges the code with no secret", False, repr(err))
        return
    check("public client: Authlib exchanges the code with no secret",
          token.get("access_token") and token.get("id_token") and token.get("refresh_token"), token)
    claims = jwt.decode(token["id_token"], options={"verify_signature": False})
    check("public client: the ID token's aud is the public client",
          claims.get("aud") in (spa["client_id"], [spa["client_id"]]) and claims.get("nonce") == nonce, claims)
    code, verifier, _ = fresh_code(browser, base, spa)
    check("public client: a code without code_verifier answers invalid_grant",
          is_invalid_grant(token_request(base, spa, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)))
    # Logout may only return where the client registered.
    response = browser.get(disco["end_session_endpoint"], params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:9/evil", "state": "s"})
    check("logout never redirects to an unregistered post_logout_redirect_uri",
          not response.headers.get("Location", "").startswith("http://127.0.0.1:9/evil"),
          f"{response.status_code} {response.headers.get('Location')}")
    # Signing in again in a signed-in browser: a new session cookie, not the old one kept.
    old = session_value(browser)
    url, _ = authorize_url(base, spa["client_id"], CALLBACK, pkce()[1], prompt="login")
    location, pages, _ = browser.drive(url)
    new = session_value(browser)
    check("signing in again (prompt=login) replaces the session cookie",
          pages[:1] == ["login"] and query(location or "").get("code") and new and old and new != old,
          (pages, location, old, new))


def logout(base, disco, browser, web, flow, portal, portal_token, admin):
    state = generate_token(16)
    response = browser.get(disco["end_session_endpoint"], params={
        "id_token_hint": flow["id_token"], "post_logout_redirect_uri": BYE, "state": state})
    location = response.headers.get("Location", "")
    check("RP logout with id_token_hint redirects to the post_logout_redirect_uri with the state",
          response.status_code == 303 and location.startswith(BYE) and query(location).get("state") == state,
          f"{response.status_code} {location} {response.text[:200]}")
    check("after logout the client's refresh token answers invalid_grant",
          is_invalid_grant(refresh(base, web, flow["token"]["refresh_token"])))
    check("after logout the SSO client's refresh token answers invalid_grant too",
          is_invalid_grant(refresh(base, portal, portal_token["refresh_token"])))
    me = requests.get(base + "/v1/users/me", headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    check("logout leaves sessions the browser did not start (the admin's password grant)", me.status_code == 200,
          me.status_code)
    url, _ = authorize_url(base, web["client_id"], CALLBACK, pkce()[1])
    page = browser.inside(browser.get(url))
    check("after logout authorize shows the login page again", is_login_page(page), page.status_code)


# --- TOTP (RFC 6238) -------------------------------------------------------------------------

def totp_at(secret, when):
    """The six-digit RFC 6238 code (SHA-1, 30 s steps) of a base32 `secret` at unix time `when`."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(when) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def away_from_step_boundary():
    """Sleeps into the next 30 s step when this one ends within 10 s: a code computed now for a
    neighbouring step must still be a neighbour when Warden checks it."""
    if time.time() % 30 > 20:
        time.sleep(30.5 - time.time() % 30)


def password_grant(base, username, password):
    response = requests.post(base + "/oauth/token", data={"grant_type": "password", "client_id": "warden",
                                                          "username": username, "password": password}, timeout=30)
    return response.status_code, response.json()


def second_factor_step(browser, response, code):
    """Posts `code` to the second-factor form of `response`; answers the next response."""
    form = form_for(response.text, "/oauth/login/second-factor") or {"inputs": {}}
    return browser.inside(browser.post("/oauth/login/second-factor", data=dict(hidden(form), code=code)))


def sign_in_to_second_factor(browser, url, username, password):
    """Opens `url`, fills the login form; answers the page that follows."""
    page = browser.inside(browser.get(url))
    login = form_for(page.text, "/oauth/login") or {"inputs": {}}
    return browser.inside(browser.post("/oauth/login", data=dict(hidden(login), username=username,
                                                                   password=password)))


def finish(browser, response):
    """Allows on the consent page if one comes; answers the Location Warden sends the browser to."""
    consent = form_for(response.text, "/oauth/consent") if response.status_code == 200 else None
    if consent:
        response = browser.inside(browser.post("/oauth/consent", data=dict(hidden(consent), decision="allow")))
    if response.status_code in REDIRECTS:
        return urljoin(response.url, response.headers.get("Location", ""))
    return None


def totp(base, disco, jwks, admin, web, portal):
    """A user enrols TOTP through the API; the password grant then refuses them, the hosted
    sign-in asks for the code (a reused or wrong one is refused), the ID token says so in amr,
    the next step's code is taken too, a recovery code works once, and an administrator's
    reset restores the password grant."""
    email, password = "totp-interop@example.com", "interop totp passphrase"
    created = requests.post(base + "/v1/users", json={"email": email, "password": password},
                            headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    check("TOTP: the administrator creates a user (201)", created.status_code == 201,
          f"{created.status_code} {created.text[:300]}")
    user_id = created.json()["id"]
    status, grant = password_grant(base, email, password)
    check("TOTP: before enrolling, the password grant answers the user a token", status == 200, (status, grant))
    mine = {"Authorization": f"Bearer {grant.get('access_token')}"}

    enrolment = requests.post(base + "/v1/users/me/totp", headers=mine, timeout=30)
    body = enrolment.json() if enrolment.status_code == 201 else {}
    secret = body.get("secret", "")
    uri = urlsplit(body.get("otpauth_uri", ""))
    uri_query = query(body.get("otpauth_uri", ""))
    check("TOTP: POST /v1/users/me/totp answers 201 with an otpauth://totp/Warden:<email> URI and its base32 secret",
          enrolment.status_code == 201 and re.fullmatch(r"[A-Z2-7]{16,}", secret)
          and uri.scheme == "otpauth" and uri.netloc == "totp"
          and unquote(uri.path) == f"/Warden:{email}" and uri_query.get("secret") == secret
          and uri_query.get("issuer") == "Warden", f"{enrolment.status_code} {body}")

    away_from_step_boundary()
    now = time.time()
    near = {totp_at(secret, now + d) for d in (-30, 0, 30)}
    wrong = next(c for c in ("123456", "654321", "111111", "222222") if c not in near)
    refused = requests.post(base + "/v1/users/me/totp/confirm", json={"code": wrong}, headers=mine, timeout=30)
    check("TOTP: confirming with a wrong code answers 422", refused.status_code == 422,
          f"{refused.status_code} {refused.text[:300]}")
    confirm_code = totp_at(secret, now - 30)
    confirmed = requests.post(base + "/v1/users/me/totp/confirm", json={"code": confirm_code}, headers=mine,
                              timeout=30)
    codes = confirmed.json().get("recovery_codes", []) if confirmed.status_code == 200 else []
    check("TOTP: confirming with the app's code answers 200 with ten recovery codes",
          len(codes) == 10 and len(set(codes)) == 10
          and all(re.fullmatch(r"[a-z0-9]{5}-[a-z0-9]{5}", c) for c in codes),
          f"{confirmed.status_code} {confirmed.text[:300]}")
    again = requests.post(base + "/v1/users/me/totp", headers=mine, timeout=30)
    check("TOTP: enrolling again over a confirmed factor answers 409", again.status_code == 409, again.status_code)

    status, grant = password_grant(base, email, password)
    check("TOTP: the password grant now answers 400 invalid_grant saying a second factor is needed",
          status == 400 and grant.get("error") == "invalid_grant"
          and "second factor" in grant.get("error_description", ""), (status, grant))

    # The hosted sign-in, driven by Authlib's authorization URL.
    client = OAuth2Session(client_id=web["client_id"], client_secret=web["client_secret"], scope=SCOPE,
                           redirect_uri=CALLBACK, code_challenge_method="S256",
                           token_endpoint_auth_method="client_secret_basic")
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(disco["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    browser = Browser(base)
    page = sign_in_to_second_factor(browser, url, email, password)
    form = form_for(page.text, "/oauth/login/second-factor") if page.status_code == 200 else None
    form = form or {"inputs": {}, "buttons": [], "method": ""}
    labels = parse(page.text).labels
    check("TOTP: after the password the hosted sign-in shows the second-factor form (csrf, request, pending, code)",
          page.status_code == 200 and form["method"] == "post" and {"csrf", "request", "pending"} <= set(hidden(form))
          and form["inputs"].get("code", {}).get("id") == "code"
          and any(lab["for"] == "code" and lab["text"].strip() == "Six-digit code from your authenticator app"
                  for lab in labels)
          and any(b["text"].strip() == "Continue" and b.get("type", "submit") == "submit" for b in form["buttons"])
          and not sets_live_session(page), f"{page.status_code} {page.text[:400]}")
    reused = second_factor_step(browser, page, confirm_code)
    check("TOTP: the code already used to confirm is refused at sign-in (401, 'not correct')",
          reused.status_code == 401 and "not correct" in reused.text
          and form_for(reused.text, "/oauth/login/second-factor") is not None and not sets_live_session(reused),
          f"{reused.status_code} {reused.text[:300]}")
    bad = second_factor_step(browser, reused, wrong)
    check("TOTP: a wrong code is refused (401, 'not correct', the form again)",
          bad.status_code == 401 and "not correct" in bad.text
          and form_for(bad.text, "/oauth/login/second-factor") is not None, f"{bad.status_code} {bad.text[:300]}")
    sign_in_code = totp_at(secret, time.time())
    location = finish(browser, second_factor_step(browser, bad, sign_in_code))
    check("TOTP: the right code continues through consent to the client with a code and the state",
          (location or "").startswith(CALLBACK + "?") and query(location).get("code")
          and query(location).get("state") == state, location)
    token = client.fetch_token(disco["token_endpoint"], authorization_response=location, state=state,
                               code_verifier=verifier)
    claims = verify_id_token(disco, jwks, token["id_token"], web["client_id"], nonce, token["access_token"],
                             label="TOTP: ")
    check("TOTP: the ID token's amr is [pwd, otp, mfa] and sub the user",
          claims.get("amr") == ["pwd", "otp", "mfa"] and claims.get("sub") == user_id, claims)

    # The same code in another browser: no code is accepted twice.
    other = Browser(base)
    page = sign_in_to_second_factor(other, authorize_url(base, web["client_id"], CALLBACK, pkce()[1])[0], email,
                                    password)
    replayed = second_factor_step(other, page, sign_in_code)
    check("TOTP: the code that just signed in is refused in another browser (401, no session)",
          replayed.status_code == 401 and "not correct" in replayed.text and not sets_live_session(replayed),
          f"{replayed.status_code} {replayed.text[:300]}")
    # The next step's code (one step of clock skew) to a first-party client: a 303 at once.
    url, params = authorize_url(base, portal["client_id"], CALLBACK, pkce()[1])
    page = sign_in_to_second_factor(other, url, email, password)
    response = second_factor_step(other, page, totp_at(secret, time.time() + 30))
    location = response.headers.get("Location", "")
    check("TOTP: the next step's code signs in to a first-party client: 303 to it with a code and the state",
          response.status_code == 303 and location.startswith(CALLBACK + "?") and query(location).get("code")
          and query(location).get("state") == params["state"], f"{response.status_code} {location}")
    verifier, challenge = pkce()
    url, params = authorize_url(base, web["client_id"], CALLBACK, challenge)
    other = Browser(base)
    page = sign_in_to_second_factor(other, url, email, password)
    location = finish(other, second_factor_step(other, page, codes[0].upper().replace("-", " ")))
    status, tokens = exchange(base, web, query(location or "").get("code"), verifier)
    amr = jwt.decode(tokens.get("id_token", ""), options={"verify_signature": False}).get("amr") \
        if status == 200 else None
    check("TOTP: a recovery code (typed in capitals with a space) signs in; the ID token's amr is [pwd, mfa]",
          (location or "").startswith(CALLBACK + "?") and amr == ["pwd", "mfa"], (location, status, amr))
    third = Browser(base)
    page = sign_in_to_second_factor(third, authorize_url(base, web["client_id"], CALLBACK, pkce()[1])[0], email,
                                    password)
    spent = second_factor_step(third, page, codes[0])
    check("TOTP: the same recovery code a second time is refused (401)", spent.status_code == 401, spent.status_code)

    reset = requests.delete(f"{base}/v1/users/{user_id}/totp", headers={"Authorization": f"Bearer {admin}"},
                            timeout=30)
    check("TOTP: the administrator's DELETE /v1/users/{id}/totp answers 204", reset.status_code == 204,
          f"{reset.status_code} {reset.text[:200]}")
    status, grant = password_grant(base, email, password)
    check("TOTP: after the reset the password grant answers a token again",
          status == 200 and grant.get("access_token"), (status, grant))
    location, pages, _ = Browser(base).drive(authorize_url(base, web["client_id"], CALLBACK, pkce()[1])[0],
                                             username=email, password=password)
    check("TOTP: after the reset the hosted sign-in asks for no code",
          pages == ["login", "consent"] and query(location or "").get("code"), (pages, location))


SKIPPED = object()


def section(name, fn, *args):
    """Runs one group of checks; a crash, or an earlier group it needs having crashed, is one
    failure and the other groups still run."""
    if any(arg is SKIPPED for arg in args):
        check(f"{name}: ran", False, "skipped: a group it builds on crashed")
        return SKIPPED
    try:
        return fn(*args)
    except Exception as err:  # noqa: BLE001 - a crash mid-way is one more failure, not a silent stop
        check(f"{name}: ran to the end", False, repr(err))
        return SKIPPED


def run(base):
    disco = discovery(base)
    jwks = requests.get(disco["jwks_uri"], timeout=30).json()
    user = OAuth2Session(client_id="warden", token_endpoint_auth_method="none")
    admin = user.fetch_token(base + "/oauth/token", username=ADMIN, password=PASSWORD)["access_token"]
    web = register(base, admin, "Interop Web App")
    other = register(base, admin, "Interop Other App")
    portal = register(base, admin, "Interop Portal", first_party=True)
    spa = register(base, admin, "Interop SPA", client_type="public")

    # The consent page first: it decides nothing, so the login page's own flow still meets it.
    section("consent page", consent_page, base, web)
    browser = section("login page", login_page, base, web)
    flow = section("code flow", code_flow, base, disco, jwks, browser, web, admin)
    section("sessions", sessions_list, base, admin)
    portal_token = section("SSO", sso, base, disco, browser, portal)
    section("prompt=none", prompts, base, portal)
    section("consent decisions", consent_decisions, base, browser, web, other)
    section("code replay", replay, base, disco, browser, web)
    section("PKCE and code binding", pkce_and_binding, base, browser, web, other)
    section("redirect URIs", redirect_uris, base, web)
    section("public client", public_client, base, disco, spa)
    section("logout", logout, base, disco, browser, web, flow, portal, portal_token, admin)
    section("TOTP", totp, base, disco, jwks, admin, web, portal)


def main():
    binary = sys.argv[1]
    process, base = start(binary)
    try:
        section("setup", run, base)
    finally:
        process.terminate()
        process.wait(timeout=10)
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
