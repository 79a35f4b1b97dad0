"""Browser sign-in: Playwright drives Debian's Chromium through Warden's hosted pages.

A person signs in (a wrong password first, then the right one typed with the keyboard),
allows a third-party client on the consent page and lands back at the client with a code;
signs into a second client without typing the password again (SSO); is refused with an
error page for an unregistered redirect URI; signs out through the logout confirmation page
(once with nowhere to return, once returning to the client) and meets the login page again.
The login page is also shown on a phone-sized screen, and framed by another site (refused).
Then TOTP (RFC 6238, codes from pyotp): a user who enrolled through the API signs in with
the second-factor page (a wrong code first, refused), another browser with a recovery code;
and a member of an account that requires a second factor meets the setup page after the
password (an inline SVG QR code and the key), enters the app's first code, sees the recovery
codes and continues to the client. The ID token's amr says which factor signed in.
A screenshot of each page goes into the directory given as the second argument.

The relying party is a tiny HTTP server here on a free loopback port: Chromium refuses to
open the discard port 9 (ERR_UNSAFE_PORT) and a route handler does not see a redirect's
next hop, so the callback must really answer. Starts its own Warden (the binary path is the
first argument) on a free port with a throw-away SQLite store. Prints "N passed, N failed".
"""

import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pyotp
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser admin passphrase"
ADMIN = "admin@localhost"
SCOPE = "openid profile email"
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


# --- the relying party ----------------------------------------------------------------------

class RelyingParty(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a small page and remembers the paths it was sent to."""

    seen = []
    warden = ""

    def do_GET(self):  # noqa: N802 - the http.server API
        path = urllib.parse.urlsplit(self.path).path
        if path == "/favicon.ico":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        RelyingParty.seen.append(self.path)
        if path == "/frame":
            target = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["src"][0]
            body = f'<!doctype html><title>Framing site</title><h1>A site framing Warden</h1>' \
                   f'<iframe id="warden" src="{target}" width="600" height="500"></iframe>'
        else:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            shown = "".join(f"<li>{k}: {v[0][:40]}</li>" for k, v in query.items())
            body = f"<!doctype html><title>Relying party</title><h1>Back at the relying party</h1>" \
                   f"<p id='path'>{path}</p><ul>{shown}</ul>"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def start_relying_party():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RelyingParty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# --- Warden's API ---------------------------------------------------------------------------

def call(url, form=None, body=None, token=None, auth=None, method="POST"):
    """POSTs (or `method`s) a form or JSON; answers (status, decoded JSON or {})."""
    headers = {}
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    else:
        data, headers["Content-Type"] = urllib.parse.urlencode(form or {}).encode(), "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if auth:
        pair = urllib.parse.quote(auth[0], safe="") + ":" + urllib.parse.quote(auth[1], safe="")
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read()
    try:
        return status, json.loads(text or b"{}")
    except ValueError:
        return status, {}


def register(base, admin, name, rp, first_party=False):
    status, client = call(base + "/v1/clients", token=admin, body={
        "name": name, "client_type": "confidential", "redirect_uris": [rp + "/callback"],
        "post_logout_redirect_uris": [rp + "/bye"], "first_party": first_party,
        "grant_types": ["authorization_code", "refresh_token"]})
    check(f"registering {name!r} answers 201", status == 201, f"{status} {client}")
    client["name"] = name
    return client


class Request:
    """One authorization request: its URL, state and PKCE verifier."""

    def __init__(self, base, client, redirect_uri, **extra):
        self.verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        self.state = secrets.token_urlsafe(12)
        self.redirect_uri = redirect_uri
        params = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": redirect_uri,
                  "scope": SCOPE, "state": self.state, "nonce": secrets.token_urlsafe(12),
                  "code_challenge": challenge, "code_challenge_method": "S256", **extra}
        self.url = base + "/oauth/authorize?" + urllib.parse.urlencode(params)

    def exchange(self, base, client, code):
        return call(base + "/oauth/token", auth=(client["client_id"], client["client_secret"]), form={
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier})


def query(url):
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}


# --- the pages ------------------------------------------------------------------------------

class Pages:
    def __init__(self, base, rp, shots, page, problems=None):
        self.base, self.rp, self.shots, self.page = base, rp, shots, page
        self.problems = [] if problems is None else problems
        page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))
        page.on("console", self._console)

    def _console(self, message):
        text = message.text
        # The framing step's refusal (frame-ancestors) is expected; any other is a page broken
        # by its own policy (a blocked style, script or form target).
        if message.type == "error" and ("Content Security Policy" in text or "Refused to" in text) \
                and "frame-ancestors" not in text:
            self.problems.append(text)

    def shot(self, name):
        path = os.path.join(self.shots, name + ".png")
        self.page.screenshot(path=path, full_page=True)
        check(f"screenshot {name}.png saved", os.path.getsize(path) > 0, path)

    def on_warden(self):
        return self.page.url.startswith(self.base + "/")

    def is_login(self):
        return self.on_warden() and self.page.locator("form[action$='/oauth/login'] #password").count() == 1

    def is_consent(self):
        return self.on_warden() and self.page.locator("form[action$='/oauth/consent']").count() == 1

    def wait_for_rp(self, path):
        try:
            self.page.wait_for_url(f"{self.rp}{path}**", timeout=15000)
            return True
        except PlaywrightError:
            return False


def submit(page, act):
    """Submits a form (by `act`: a click or a key) and waits until the page it leads to has
    loaded: a form post may answer at the same URL, so waiting for a URL would not do.
    Answers the response of that navigation (None when there was none)."""
    try:
        with page.expect_navigation() as navigation:
            act()
        page.wait_for_load_state()
        return navigation.value
    except PlaywrightError as err:  # the checks after it say what went wrong; this says why
        print(f"note: the navigation after a form submission failed: {str(err).splitlines()[0]}", flush=True)
        return None


def login_page(pages, web):
    page = pages.page
    request = Request(pages.base, web, pages.rp + "/callback")
    response = page.goto(request.url)
    check("authorize without a session shows the login page", response is not None and response.status == 200
          and pages.is_login(), f"{response and response.status} {page.url}")
    check("the login page says it must not be framed",
          response is not None and response.headers.get("x-frame-options", "").upper() == "DENY"
          and "frame-ancestors 'none'" in response.headers.get("content-security-policy", ""),
          response and response.headers)
    username = page.get_by_label("Email or username")
    check("the username field is found by its label 'Email or username'",
          username.count() == 1 and username.get_attribute("id") == "username", username.count())
    check("the password field is a password input",
          page.locator("#password").get_attribute("type") == "password")
    check("a 'Sign in' button submits the form", page.get_by_role("button", name="Sign in").count() == 1)
    pages.shot("login")

    # A wrong password, typed with fill and submitted with the mouse.
    username.fill(ADMIN)
    page.locator("#password").fill("not the passphrase")
    submit(page, page.get_by_role("button", name="Sign in").click)
    check("a wrong password shows the login page again saying it is incorrect",
          pages.is_login() and "incorrect" in page.content().lower(), page.url)
    pages.shot("login-error")

    # The right one with the keyboard only: type, Tab to the password, type, Enter.
    page.get_by_label("Email or username").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    check("Tab moves from the username to the password field",
          page.evaluate("document.activeElement && document.activeElement.id") == "password",
          page.evaluate("document.activeElement && document.activeElement.outerHTML"))
    page.keyboard.type(PASSWORD)
    submit(page, lambda: page.keyboard.press("Enter"))
    return request


def consent(pages, web, request):
    page = pages.page
    check("after sign-in a third-party client shows the consent page", pages.is_consent(), page.url)
    check("the consent page names the client", page.get_by_text(web["name"]).count() >= 1)
    allow, deny = page.get_by_role("button", name="Allow"), page.get_by_role("button", name="Deny")
    check("the consent page has Allow and Deny buttons", allow.count() == 1 and deny.count() == 1)
    pages.shot("consent")
    submit(page, allow.click)
    landed = pages.wait_for_rp("/callback")
    answer = query(page.url)
    check("Allow lands the browser back at the client with a code, the state and iss",
          landed and answer.get("code") and answer.get("state") == request.state and answer.get("iss") == pages.base,
          page.url)
    status, tokens = request.exchange(pages.base, web, answer.get("code", ""))
    check("the code from the browser exchanges for an ID token", status == 200 and tokens.get("id_token"),
          f"{status} {tokens}")
    cookies = {c["name"]: c for c in page.context.cookies(pages.base + "/oauth/authorize")}
    session = cookies.get("warden_session", {})
    check("the browser holds warden_session, HttpOnly and SameSite=Lax",
          session.get("httpOnly") is True and session.get("sameSite") == "Lax", session)


def sso(pages, portal):
    page = pages.page
    request = Request(pages.base, portal, pages.rp + "/callback")
    page.goto(request.url)
    asked_password = pages.is_login()
    if pages.is_consent():
        submit(page, page.get_by_role("button", name="Allow").click)
    landed = pages.wait_for_rp("/callback")
    answer = query(page.url)
    check("SSO: a second client signs in without the login page",
          landed and answer.get("code") and answer.get("state") == request.state and not asked_password, page.url)
    status, tokens = request.exchange(pages.base, portal, answer.get("code", ""))
    check("the SSO code exchanges for tokens", status == 200 and tokens.get("access_token"), f"{status} {tokens}")


def error_page(pages, web):
    page = pages.page
    before = len(RelyingParty.seen)
    request = Request(pages.base, web, pages.rp + "/callbackx")
    response = page.goto(request.url)
    check("an unregistered redirect_uri shows a 400 error page on Warden",
          response is not None and response.status == 400 and pages.on_warden()
          and page.locator("body").inner_text().strip() != "", f"{response and response.status} {page.url}")
    check("the unregistered redirect_uri is never visited", len(RelyingParty.seen) == before,
          RelyingParty.seen[before:])
    pages.shot("error")


def sign_out(pages, web):
    page = pages.page
    # With nowhere to return: confirmation, then the "signed out" page.
    response = page.goto(pages.base + "/oauth/logout")
    button = page.get_by_role("button", name="Sign out")
    check("logout without id_token_hint asks for confirmation",
          response is not None and response.status == 200 and pages.on_warden() and button.count() == 1
          and page.locator("form[action$='/oauth/logout']").count() == 1, f"{response and response.status} {page.url}")
    pages.shot("logout")
    submit(page, button.click)
    check("Sign out with nowhere to return shows a signed-out page",
          pages.on_warden() and "signed out" in page.locator("body").inner_text().lower(), page.url)
    pages.shot("signed-out")
    page.goto(Request(pages.base, web, pages.rp + "/callback").url)
    check("after signing out authorize shows the login page again", pages.is_login(), page.url)

    # Sign in again, then sign out returning to the client with its state.
    page.get_by_label("Email or username").fill(ADMIN)
    page.locator("#password").fill(PASSWORD)
    submit(page, page.get_by_role("button", name="Sign in").click)
    if pages.is_consent():
        submit(page, page.get_by_role("button", name="Allow").click)
    check("signing in again lands at the client", pages.wait_for_rp("/callback"), page.url)
    state = secrets.token_urlsafe(12)
    page.goto(pages.base + "/oauth/logout?" + urllib.parse.urlencode(
        {"client_id": web["client_id"], "post_logout_redirect_uri": pages.rp + "/bye", "state": state}))
    button = page.get_by_role("button", name="Sign out")
    check("logout with a client but no id_token_hint asks for confirmation", button.count() == 1, page.url)
    submit(page, button.click)
    landed = pages.wait_for_rp("/bye")
    check("Sign out returns to the client's post_logout_redirect_uri with the state",
          landed and query(page.url).get("state") == state, page.url)
    page.goto(Request(pages.base, web, pages.rp + "/callback").url)
    check("after that logout authorize shows the login page again", pages.is_login(), page.url)


def framing(pages, web):
    page = pages.page
    # prompt=login: the login page even though this browser is signed in.
    target = Request(pages.base, web, pages.rp + "/callback", prompt="login").url
    page.goto(pages.rp + "/frame?" + urllib.parse.urlencode({"src": target}))
    page.wait_for_timeout(1000)
    framed = [f for f in page.frames if f != page.main_frame]
    rendered = any(f.url.startswith(pages.base) and f.locator("#password").count() > 0 for f in framed)
    check("Chromium refuses to show the login page inside another site's frame", framed and not rendered,
          [f.url for f in framed])


def phone(browser, pages, web, shots):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.goto(Request(pages.base, web, pages.rp + "/callback").url)
    width = page.evaluate("document.documentElement.scrollWidth")
    check("the login page fits a 390 px wide phone (no sideways scrolling)", width <= 390, width)
    box = page.locator("#password").bounding_box()
    check("the password field is within the phone's screen", box is not None and box["x"] >= 0
          and box["x"] + box["width"] <= 390, box)
    path = os.path.join(shots, "login-phone.png")
    page.screenshot(path=path, full_page=True)
    check("screenshot login-phone.png saved", os.path.getsize(path) > 0, path)
    context.close()


# --- TOTP (RFC 6238) -------------------------------------------------------------------------

TOTP_PASSWORD = "browser totp passphrase"
CODE_LABEL = "Six-digit code from your authenticator app"
SETUP_LABEL = "Six-digit code from the app"
RECOVERY_CODE = re.compile(r"[a-z0-9]{5}-[a-z0-9]{5}")


def away_from_step_boundary():
    """Sleeps into the next 30 s step when this one ends within 10 s: a code computed for a
    neighbouring step must still be a neighbour when Warden checks it."""
    if time.time() % 30 > 20:
        time.sleep(30.5 - time.time() % 30)


def wrong_code(totp):
    """A six-digit code that is none of those Warden would accept now."""
    near = {totp.at(time.time() + d) for d in (-30, 0, 30)}
    return next(c for c in ("123456", "654321", "111111", "222222") if c not in near)


def claims_of(id_token):
    """An ID token's claims, unverified (the interop test verifies signatures)."""
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def password_grant(base, email):
    return call(base + "/oauth/token", form={"grant_type": "password", "client_id": "warden", "username": email,
                                             "password": TOTP_PASSWORD})


def create_user(base, admin, email, account_id=None):
    body = {"email": email, "password": TOTP_PASSWORD}
    if account_id:
        body["account_id"] = account_id
    status, user = call(base + "/v1/users", token=admin, body=body)
    check(f"TOTP: creating the user {email} answers 201", status == 201 and user.get("id"), f"{status} {user}")
    return user


def enrolled_user(base, admin):
    """A user who enrols TOTP through the API, confirmed with the previous step's code (so the
    current one is still unused for the browser); answers (email, pyotp TOTP, recovery codes)."""
    email = "totp-browser@example.com"
    create_user(base, admin, email)
    status, grant = password_grant(base, email)
    check("TOTP: the new user gets a token from the password grant", status == 200 and grant.get("access_token"),
          f"{status} {grant}")
    token = grant.get("access_token")
    status, enrolment = call(base + "/v1/users/me/totp", token=token)
    uri, secret = enrolment.get("otpauth_uri", ""), enrolment.get("secret", "")
    parsed = pyotp.parse_uri(uri) if uri.startswith("otpauth://totp/") else None
    check("TOTP: POST /v1/users/me/totp answers 201 with an otpauth URI for Warden:<email> holding the secret",
          status == 201 and secret and parsed is not None and parsed.secret == secret
          and parsed.issuer == "Warden" and parsed.name == email, f"{status} {enrolment}")
    totp = pyotp.TOTP(secret)
    away_from_step_boundary()
    status, confirmed = call(base + "/v1/users/me/totp/confirm", token=token,
                             body={"code": totp.at(time.time() - 30)})
    codes = confirmed.get("recovery_codes", [])
    check("TOTP: confirming with the app's code answers 200 with ten recovery codes",
          status == 200 and len(set(codes)) == 10 and all(RECOVERY_CODE.fullmatch(c) for c in codes),
          f"{status} {confirmed}")
    status, refused = password_grant(base, email)
    check("TOTP: the password grant then answers invalid_grant saying a second factor is needed",
          status == 400 and refused.get("error") == "invalid_grant"
          and "second factor" in refused.get("error_description", ""), f"{status} {refused}")
    return email, totp, codes


def is_second_factor(pages):
    return pages.on_warden() and pages.page.locator("form[action$='/oauth/login/second-factor'] #code").count() == 1


def password_step(pages, client, email, **extra):
    """Opens a new authorization request and signs in with `email`'s password; answers it."""
    page = pages.page
    request = Request(pages.base, client, pages.rp + "/callback", **extra)
    page.goto(request.url)
    page.get_by_label("Email or username").fill(email)
    page.locator("#password").fill(TOTP_PASSWORD)
    submit(page, page.get_by_role("button", name="Sign in").click)
    return request


def code_refused(pages, response, field):
    """Whether a refused code answered the code page again, with 401 and 'not correct'."""
    return (response is not None and response.status == 401 and is_second_factor(pages)
            and pages.page.locator("[role=alert]").count() == 1
            and "not correct" in pages.page.locator("[role=alert]").inner_text()
            and pages.page.get_by_label(field).count() == 1)


def lands_with_code(pages, client, request, what):
    """Allows on the consent page if it comes and waits for the client; answers the claims of
    the ID token the code exchanges for."""
    page = pages.page
    if pages.is_consent():
        submit(page, page.get_by_role("button", name="Allow").click)
    landed = pages.wait_for_rp("/callback")
    answer = query(page.url)
    check(f"TOTP: {what} lands at the client with a code and the state",
          landed and answer.get("code") and answer.get("state") == request.state, page.url)
    status, tokens = request.exchange(pages.base, client, answer.get("code", ""))
    check(f"TOTP: the code after {what} exchanges for an ID token", status == 200 and tokens.get("id_token"),
          f"{status} {tokens}")
    return claims_of(tokens["id_token"]) if tokens.get("id_token") else {}


def second_factor(pages, web, email, totp):
    """The second-factor page: found by its label, a wrong code refused, then the app's code."""
    page = pages.page
    request = password_step(pages, web, email)
    check("TOTP: after the password a user with a factor gets the second-factor page", is_second_factor(pages),
          page.url)
    field = page.get_by_label(CODE_LABEL)
    check(f"TOTP: the code field is found by its label '{CODE_LABEL}'",
          field.count() == 1 and field.get_attribute("id") == "code" and field.get_attribute("name") == "code",
          field.count())
    check("TOTP: the code field has the focus and asks for a one-time code",
          page.evaluate("document.activeElement && document.activeElement.id") == "code"
          and field.get_attribute("autocomplete") == "one-time-code" and field.get_attribute("inputmode") == "numeric",
          page.evaluate("document.activeElement && document.activeElement.outerHTML"))
    check("TOTP: a 'Continue' button submits the code", page.get_by_role("button", name="Continue").count() == 1)
    pages.shot("second-factor")

    field.fill(wrong_code(totp))
    response = submit(page, page.get_by_role("button", name="Continue").click)
    check("TOTP: a wrong code shows the page again (401) saying it is not correct",
          code_refused(pages, response, CODE_LABEL), f"{response and response.status} {page.url}")
    pages.shot("second-factor-error")

    # The app's current code, typed with the keyboard and sent with Enter.
    page.get_by_label(CODE_LABEL).focus()
    page.keyboard.type(totp.now())
    submit(page, lambda: page.keyboard.press("Enter"))
    claims = lands_with_code(pages, web, request, "the app's code")
    check("TOTP: the ID token's amr after a TOTP sign-in is [pwd, otp, mfa]",
          claims.get("amr") == ["pwd", "otp", "mfa"], claims)


def recovery_code(pages, web, email, codes):
    """Another browser signs in with a recovery code instead; it works once."""
    page = pages.page
    request = password_step(pages, web, email)
    check("TOTP: a second browser gets the second-factor page, which mentions recovery codes",
          is_second_factor(pages) and "recovery code" in page.locator("body").inner_text(), page.url)
    page.get_by_label(CODE_LABEL).fill(codes[0])
    submit(page, page.get_by_role("button", name="Continue").click)
    claims = lands_with_code(pages, web, request, "a recovery code")
    check("TOTP: the ID token's amr after a recovery code is [pwd, mfa]", claims.get("amr") == ["pwd", "mfa"],
          claims)
    password_step(pages, web, email, prompt="login")
    page.get_by_label(CODE_LABEL).fill(codes[0])
    response = submit(page, page.get_by_role("button", name="Continue").click)
    check("TOTP: the same recovery code a second time is refused (401, not correct)",
          code_refused(pages, response, CODE_LABEL), f"{response and response.status} {page.url}")


def account_policy(pages, admin, web):
    """An account requires a second factor: its member without one sets it up after the
    password (QR code, key, first code), is shown the recovery codes and continues."""
    page, base = pages.page, pages.base
    status, account = call(base + "/v1/accounts", token=admin, body={"name": "acme"})
    check("TOTP: creating the account 'acme' answers 201", status == 201 and account.get("id"), f"{status} {account}")
    status, changed = call(f"{base}/v1/accounts/{account.get('id')}", token=admin, method="PATCH",
                           body={"require_second_factor": True})
    check("TOTP: PATCH require_second_factor true on the account answers 200",
          status == 200 and changed.get("require_second_factor") is True, f"{status} {changed}")
    email = "member@acme.example"
    create_user(base, admin, email, account.get("id"))

    request = password_step(pages, web, email)
    check("TOTP: after the password a member without a factor gets the setup page (the same form)",
          is_second_factor(pages), page.url)
    qr = page.locator("figure.qr svg")
    box = qr.bounding_box() if qr.count() == 1 else None
    check("TOTP: the setup page shows the QR code as an inline <svg>, visible and of nonzero size",
          qr.count() == 1 and qr.is_visible() and box and box["width"] > 0 and box["height"] > 0, box)
    key = page.locator("code.secret")
    secret = key.inner_text().strip() if key.count() == 1 else ""
    check("TOTP: the setup page shows the key in base32", re.fullmatch(r"[A-Z2-7]{16,}", secret), secret)
    field = page.get_by_label(SETUP_LABEL)
    check(f"TOTP: the setup page's code field is found by its label '{SETUP_LABEL}'",
          field.count() == 1 and field.get_attribute("id") == "code", field.count())
    pages.shot("totp-setup")
    totp = pyotp.TOTP(secret or "A" * 32)

    field.fill(wrong_code(totp))
    response = submit(page, page.get_by_role("button", name="Continue").click)
    check("TOTP: a wrong first code shows the setup again (401, not correct) with the same key",
          code_refused(pages, response, SETUP_LABEL) and page.locator("figure.qr svg").count() == 1
          and page.locator("code.secret").inner_text().strip() == secret,
          f"{response and response.status} {page.url}")

    page.get_by_label(SETUP_LABEL).fill(totp.now())
    response = submit(page, page.get_by_role("button", name="Continue").click)
    check("TOTP: the app's first code shows 'Save your recovery codes', not to be cached",
          response is not None and response.status == 200 and pages.on_warden()
          and page.get_by_role("heading", name="Save your recovery codes").count() == 1
          and "no-store" in response.headers.get("cache-control", ""),
          f"{response and response.status} {page.url} {response and response.headers}")
    codes = [c.strip() for c in page.locator("li > code").all_inner_texts()]
    check("TOTP: the page lists ten distinct recovery codes",
          len(set(codes)) == 10 and all(RECOVERY_CODE.fullmatch(c) for c in codes), codes)
    link = page.locator("a.button", has_text="Continue")
    href = link.get_attribute("href") if link.count() == 1 else None
    check("TOTP: a 'Continue' link leads on to /oauth/authorize",
          page.get_by_role("link", name="Continue").count() == 1 and (href or "").startswith("/oauth/authorize?"),
          href)
    pages.shot("recovery-codes")
    submit(page, link.click)
    claims = lands_with_code(pages, web, request, "Continue after the recovery codes")
    check("TOTP: the ID token's amr after setting up the factor is [pwd, otp, mfa]",
          claims.get("amr") == ["pwd", "otp", "mfa"], claims)


def step(pages, name, fn, *args):
    """Runs one group of checks; a crash is one failure (with a screenshot of where it stood)
    and the next group still runs."""
    if any(arg is None for arg in args):
        check(f"{name}: ran", False, "skipped: the step it builds on crashed")
        return None
    try:
        return fn(*args)
    except Exception as err:  # noqa: BLE001 - one failed step, the next still runs
        check(f"{name}: ran to the end", False, repr(err))
        try:
            pages.page.screenshot(path=os.path.join(pages.shots, f"failed-{name.replace(' ', '-')}.png"))
        except PlaywrightError:
            pass
        return None


def run(base, shots, playwright):
    rp_server, rp = start_relying_party()
    try:
        status, grant = call(base + "/oauth/token", form={"grant_type": "password", "client_id": "warden",
                                                         "username": ADMIN, "password": PASSWORD})
        admin = grant.get("access_token")
        check("the administrator gets a token", status == 200 and admin, f"{status} {grant}")
        web = register(base, admin, "Playwright Web App", rp)
        portal = register(base, admin, "Playwright Portal", rp, first_party=True)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(15000)
            pages = Pages(base, rp, shots, context.new_page())
            request = step(pages, "login page", login_page, pages, web)
            step(pages, "consent", consent, pages, web, request)
            step(pages, "SSO", sso, pages, portal)
            step(pages, "error page", error_page, pages, web)
            step(pages, "framing", framing, pages, web)
            step(pages, "sign out", sign_out, pages, web)
            step(pages, "phone", phone, browser, pages, web, shots)

            enrolled = step(pages, "TOTP enrolment", enrolled_user, base, admin)
            email, totp, codes = enrolled or (None, None, None)
            for name, fn, args in [("TOTP sign-in", second_factor, (web, email, totp)),
                                   ("TOTP recovery code", recovery_code, (web, email, codes)),
                                   ("TOTP account policy", account_policy, (admin, web))]:
                # Each in a browser of its own: no session carries over.
                own = browser.new_context(viewport={"width": 1280, "height": 800})
                own.set_default_timeout(15000)
                own_pages = Pages(base, rp, shots, own.new_page(), problems=pages.problems)
                step(own_pages, name, fn, own_pages, *args)
                own.close()
            check("the hosted pages raised no CSP violation or script error", not pages.problems, pages.problems)
        finally:
            browser.close()
    finally:
        rp_server.shutdown()


def main():
    binary, shots = sys.argv[1], sys.argv[2]
    os.makedirs(shots, exist_ok=True)
    process, base = start(binary)
    try:
        with sync_playwright() as playwright:
            run(base, shots, playwright)
    except Exception as err:  # noqa: BLE001 - a crash is one more failure, not a silent stop
        check("the browser checks ran to the end", False, repr(err))
    finally:
        process.terminate()
        process.wait(timeout=10)
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
