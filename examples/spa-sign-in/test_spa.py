"""The single-page app against a live Warden, in a real browser: Playwright drives Debian's
Chromium (/usr/bin/chromium, never a browser Playwright downloads) through the page, served
by a tiny http.server on a free loopback port, and Warden's hosted login and consent pages.
Sign-in lands back on the page with the email from /userinfo; Refresh rotates the tokens;
Sign out ends Warden's session too. Warden answers CORS only for the registered origin."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from playwright.sync_api import expect as page_expect
from playwright.sync_api import sync_playwright

from _testkit.api import expect

HERE = Path(__file__).parent
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def spa(tmp_path_factory):
    """A copy of index.html (`world` sets its two <meta> lines, as the README says), served on a
    free loopback port."""
    folder = tmp_path_factory.mktemp("spa")
    shutil.copy(HERE / "index.html", folder / "index.html")
    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield SimpleNamespace(folder=folder, origin=f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def world(warden, admin, spa):
    client = expect(admin.post("/v1/clients", {
        "name": "Notes", "client_type": "public", "first_party": False,
        "redirect_uris": [spa.origin + "/"], "post_logout_redirect_uris": [spa.origin + "/"],
        "grant_types": ["authorization_code", "refresh_token"], "allowed_origins": [spa.origin],
    }), 201)
    assert "client_secret" not in client
    page = (spa.folder / "index.html").read_text()
    page = page.replace('content="http://127.0.0.1:8080"', f'content="{warden.base}"')
    page = page.replace('content="wc_REPLACE_ME"', f'content="{client["client_id"]}"')
    (spa.folder / "index.html").write_text(page)
    return SimpleNamespace(client=client, alice=admin.user(None))


@pytest.fixture(scope="module")
def chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (tests/browser/run.sh does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser profile; `page.problems` collects script errors and failed loads (but
    Warden's /favicon.ico, which its pages do not have, 404s whenever Chromium shows one)."""
    context = chromium.new_context()
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda err: page.problems.append(f"page error: {err}"))

    def console(message):
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            page.problems.append(f"{message.text} at {message.location.get('url')}")

    page.on("console", console)
    yield page
    context.close()


def tokens(page):
    return page.evaluate("JSON.parse(sessionStorage.getItem('tokens'))")


def at_warden(page, warden, user, decision="Allow"):
    """Warden's hosted pages: the login form, then the consent page if it is shown."""
    page.wait_for_url(warden.base + "/oauth/authorize?**")
    page.get_by_label("Email or username").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if page.url.startswith(warden.base) and page.locator("form[action='/oauth/consent']").count():
        page_expect(page.get_by_text("Notes")).not_to_have_count(0)  # names the app
        page.get_by_role("button", name=decision).click()


def sign_in(page, spa, warden, user):
    page.goto(spa.origin + "/")
    page_expect(page.locator("#status")).to_have_text("Signed out")
    page.get_by_role("button", name="Sign in").click()
    at_warden(page, warden, user)
    page.wait_for_url(spa.origin + "/")  # back, with the code and state gone from the address
    page_expect(page.locator("#status")).to_have_text(f"Signed in as {user.email}")


def test_sign_in_refresh_and_sign_out_in_chromium(page, spa, warden, world):
    sign_in(page, spa, warden, world.alice)
    first = tokens(page)
    assert first["access_token"] and first["refresh_token"] and first["id_token"]
    assert page.evaluate("sessionStorage.getItem('pending')") is None  # the verifier is spent

    page.get_by_role("button", name="Refresh").click()
    page_expect(page.locator("#token")).to_contain_text("Refreshed.")
    page_expect(page.locator("#status")).to_have_text(f"Signed in as {world.alice.email}")
    second = tokens(page)
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]  # rotated

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(spa.origin + "/")
    page_expect(page.locator("#status")).to_have_text("Signed out")
    page_expect(page.locator("#token")).to_have_text("Warden's session has ended too.")
    page_expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert tokens(page) is None
    # Warden ended the sessions it had opened for this browser: the refresh token is dead.
    answer = httpx.post(warden.base + "/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": second["refresh_token"],
        "client_id": world.client["client_id"]})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    # ...and its browser session: signing in again shows the login page.
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(warden.base + "/oauth/authorize?**")
    page_expect(page.get_by_label("Email or username")).to_be_visible()
    assert page.problems == []


def test_a_return_with_a_state_of_no_sign_in_is_refused(page, spa, world):
    page.goto(spa.origin + "/?code=stolen&state=forged&iss=x")
    page_expect(page.locator("#error")).to_have_text("the state is not this tab's sign-in")
    page_expect(page.locator("#status")).to_have_text("Signed out")
    assert page.url == spa.origin + "/"


def test_a_refused_consent_comes_back_as_an_error(page, spa, warden, world, admin):
    # Someone who never allowed the app: Warden remembers what people allowed.
    page.goto(spa.origin + "/")
    page.get_by_role("button", name="Sign in").click()
    at_warden(page, warden, admin.user(None), decision="Deny")
    page.wait_for_url(spa.origin + "/")
    page_expect(page.locator("#error")).to_contain_text("access_denied")
    page_expect(page.locator("#status")).to_have_text("Signed out")


def test_an_id_token_altered_on_the_way_is_refused(page, spa, warden, world):
    """The token response is intercepted and the ID token's claims changed (the signature
    kept): the page checks the signature with Warden's JWKS and signs nobody in."""
    def alter(route):
        response = route.fetch()
        body = response.json()
        if "id_token" in body:
            header, payload, signature = body["id_token"].split(".")
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            claims["email"] = "mallory@example.test"
            forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
            body["id_token"] = f"{header}.{forged}.{signature}"
        route.fulfill(response=response, json=body)

    page.route(warden.base + "/oauth/token", alter)
    page.goto(spa.origin + "/")
    page.get_by_role("button", name="Sign in").click()
    at_warden(page, warden, world.alice)
    page.wait_for_url(spa.origin + "/")
    page_expect(page.locator("#error")).to_have_text("bad ID token signature")
    page_expect(page.locator("#status")).to_have_text("Signed out")
    assert tokens(page) is None


def preflight(warden, path, origin, method="POST"):
    return httpx.options(warden.base + path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type"})


@pytest.mark.parametrize(
    "path", ["/oauth/token", "/oauth/revoke", "/userinfo", "/.well-known/jwks.json"]
)
def test_cors_answers_the_registered_origin_only(warden, spa, world, path):
    method = "POST" if path.startswith("/oauth/") else "GET"
    allowed = preflight(warden, path, spa.origin, method)
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == spa.origin
    stranger = preflight(warden, path, "http://127.0.0.1:9", method)
    assert "Access-Control-Allow-Origin" not in stranger.headers
    assert stranger.status_code == 403
