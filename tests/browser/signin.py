"""Browser sign-in: Playwright drives Debian's Chromium through Warden's hosted pages.

A person signs in (a wrong password first, then the right one typed with the keyboard),
allows a third-party client on the consent page and lands back at the client with a code;
signs into a second client without typing the password again (SSO); is refused with an
error page for an unregistered redirect URI; signs out through the logout confirmation page
(once with nowhere to return, once returning to the client) and meets the login page again.
The login page is also shown on a phone-sized screen, and framed by another site (refused).
A screenshot of each page goes into the directory given as the second argument.

Not covered yet: TOTP (a second factor at sign-in) is not part of this round's pages.

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

def call(url, form=None, body=None, token=None, auth=None):
    """POSTs a form or JSON; answers (status, decoded JSON or {})."""
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
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
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
    def __init__(self, base, rp, shots, page):
        self.base, self.rp, self.shots, self.page = base, rp, shots, page
        self.problems = []
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
    loaded: a form post may answer at the same URL, so waiting for a URL would not do."""
    try:
        with page.expect_navigation():
            act()
        page.wait_for_load_state()
    except PlaywrightError as err:  # the checks after it say what went wrong; this says why
        print(f"note: the navigation after a form submission failed: {str(err).splitlines()[0]}", flush=True)


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
