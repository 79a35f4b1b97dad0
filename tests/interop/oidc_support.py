"""Shared by the OpenID Connect interop checks (`oidc.py` runs them).

Starting Warden, the recorded checks, the hosted pages' HTML forms, the `requests`-based
browser, the token-endpoint helpers, ID token verification and the RFC 6238 TOTP helper.
"""

import base64
import hashlib
import hmac
import pathlib
import re
import sys
import struct
import time
import urllib.request
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import jwt
import requests
from authlib.common.security import generate_token
from authlib.oidc.core import CodeIDToken
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import warden_run  # noqa: E402
from warden_run import check, results  # noqa: E402,F401

PASSWORD = "interop admin passphrase"
ADMIN = "admin@localhost"
# Redirect URIs on the discard port: nothing listens, the tests read Location and stop there.
CALLBACK = "http://127.0.0.1:9/callback"
CALLBACK_2 = "http://127.0.0.1:9/callback2"
BYE = "http://127.0.0.1:9/bye"
SCOPE = "openid profile email"
REDIRECTS = (301, 302, 303, 307, 308)


def start(binary):
    return warden_run.start(binary, PASSWORD)


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
