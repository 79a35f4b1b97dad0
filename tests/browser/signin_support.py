"""Shared by the browser sign-in checks (`signin.py` runs them).

Starting Warden, the recorded checks, the relying party (a tiny HTTP server on a free
loopback port), Warden's API over urllib, one authorization request with its PKCE verifier,
and `Pages`: one Playwright page with its screenshots and the CSP problems it reports.
"""

import base64
import hashlib
import http.server
import json
import os
import pathlib
import secrets
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import Error as PlaywrightError

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import warden_run  # noqa: E402
from warden_run import check, results  # noqa: E402,F401

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser admin passphrase"
ADMIN = "admin@localhost"
SCOPE = "openid profile email"


def start(binary):
    return warden_run.start(binary, PASSWORD)


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
