"""The Flask web app against a live Warden: Flask's test client is the app, a requests.Session
is the person's browser on Warden's pages. Sign-in lands on "/" with the person's email, logout
ends both sessions and returns to the app, and a tampered or replayed callback is refused."""

from __future__ import annotations

import html
import importlib
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from _testkit.api import expect

HERE = Path(__file__).parent
APP_URL = "http://127.0.0.1:5000"  # registered at Warden; Flask's test client stands in for it


@pytest.fixture(scope="module")
def world(warden, admin):
    web = expect(admin.post("/v1/clients", {
        "name": "web", "client_type": "confidential", "first_party": True,
        "redirect_uris": [APP_URL + "/callback"], "post_logout_redirect_uris": [APP_URL + "/"],
        "grant_types": ["authorization_code", "refresh_token"],
    }), 201)
    return SimpleNamespace(web=web, alice=admin.user(None))


@pytest.fixture(scope="module")
def app(warden, world):
    os.environ.update(WARDEN_URL=warden.base, APP_URL=APP_URL, CLIENT_ID=world.web["client_id"],
                      CLIENT_SECRET=world.web["client_secret"])
    sys.path.insert(0, str(HERE))
    return importlib.import_module("app").app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session


def query(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def app_path(url):
    """The app's part of a URL Warden sent the browser to, for the test client."""
    assert url.startswith(APP_URL + "/"), url
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def to_warden(client):
    """The app's /login: a redirect to Warden's authorization endpoint, with PKCE and a nonce."""
    response = client.get("/login")
    assert response.status_code == 302
    return response.headers["Location"]


def at_warden(warden, browser, authorize_url, user):
    """The browser at Warden: the login page, filled in and posted. Returns where Warden sends
    the browser back to (the app's callback)."""
    page = browser.get(authorize_url, allow_redirects=False)
    if page.status_code == 303:  # already signed in at Warden
        return page.headers["Location"]
    assert page.status_code == 200 and 'action="/oauth/login"' in page.text, page.text
    hidden = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text)
    form = {name: html.unescape(value) for name, value in hidden}
    form.update(username=user.email, password=user.password)
    answer = browser.post(warden.base + "/oauth/login", data=form, allow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.headers["Location"]


def sign_in(warden, client, browser, user):
    callback = at_warden(warden, browser, to_warden(client), user)
    response = client.get(app_path(callback))
    assert response.status_code == 302 and response.headers["Location"] == "/", response.text
    return callback


def test_signed_out_the_home_page_offers_to_sign_in(client):
    assert '<a href="/login">Sign in</a>' in client.get("/").text


def test_login_redirects_to_warden_with_pkce_and_a_nonce(warden, client, world):
    url = to_warden(client)
    assert url.startswith(warden.base + "/oauth/authorize?")
    params = query(url)
    assert params["client_id"] == world.web["client_id"]
    assert params["redirect_uri"] == APP_URL + "/callback"
    assert params["scope"] == "openid profile email"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["state"] and params["nonce"]


def test_a_person_signs_in_at_warden_and_the_app_shows_their_email(warden, client, browser, world):
    callback = sign_in(warden, client, browser, world.alice)
    assert query(callback)["iss"] == warden.base
    assert f"Signed in as {world.alice.email}" in client.get("/").text
    with client.session_transaction() as session:
        assert session["user"]["email"] == world.alice.email
        assert "_state_warden_" + query(callback)["state"] not in session  # used once, forgotten


def test_logout_ends_warden_session_and_returns_to_the_app_signed_out(
    warden, client, browser, world
):
    sign_in(warden, client, browser, world.alice)
    response = client.get("/logout")
    assert response.status_code == 302
    logout = response.headers["Location"]
    assert logout.startswith(warden.base + "/oauth/logout?")
    assert query(logout)["post_logout_redirect_uri"] == APP_URL + "/"
    assert query(logout)["id_token_hint"]

    back = browser.get(logout, allow_redirects=False)  # the hint names this session: no question
    assert back.status_code == 303
    assert back.headers["Location"] == APP_URL + "/?" + urlencode({"state": query(logout)["state"]})
    assert '<a href="/login">Sign in</a>' in client.get(app_path(back.headers["Location"])).text
    with client.session_transaction() as session:
        assert "user" not in session and "id_token" not in session
    # Warden's session is gone too: signing in again shows its login page.
    page = browser.get(to_warden(client), allow_redirects=False)
    assert page.status_code == 200 and 'action="/oauth/login"' in page.text


def test_a_tampered_state_at_the_callback_is_refused(warden, client, browser, world):
    callback = at_warden(warden, browser, to_warden(client), world.alice)
    params = query(callback)
    params["state"] = params["state"][:-1] + ("A" if params["state"][-1] != "A" else "B")
    response = client.get("/callback?" + urlencode(params))
    assert response.status_code == 400
    assert "Sign-in failed: CSRF Warning! State not equal in request and response." in response.text
    assert '<a href="/login">Sign in</a>' in client.get("/").text


def test_a_replayed_callback_is_refused(warden, client, browser, world):
    callback = sign_in(warden, client, browser, world.alice)
    response = client.get(app_path(callback))
    assert response.status_code == 400
    assert "Sign-in failed" in response.text


def test_a_callback_from_another_browser_is_refused(warden, app, client, browser, world):
    """Login CSRF: an attacker's own callback URL, planted in the victim's browser, matches no
    state of the victim's session."""
    attackers = app.test_client()
    callback = at_warden(warden, browser, to_warden(attackers), world.alice)
    to_warden(client)  # the victim has a sign-in of their own under way
    response = client.get(app_path(callback))
    assert response.status_code == 400
    assert '<a href="/login">Sign in</a>' in client.get("/").text


def test_an_id_token_for_another_nonce_is_refused(warden, client, browser, world):
    """The nonce swapped on the way to Warden: the code and the PKCE verifier still match, but
    the ID token carries the other nonce, and Authlib checks it against the session's."""
    url = to_warden(client)
    params = query(url)
    params["nonce"] = "not-the-apps-nonce"
    swapped = warden.base + "/oauth/authorize?" + urlencode(params)
    callback = at_warden(warden, browser, swapped, world.alice)
    response = client.get(app_path(callback))
    assert response.status_code == 400
    assert "Sign-in failed: Invalid claim: &#39;nonce&#39;" in response.text
    assert '<a href="/login">Sign in</a>' in client.get("/").text


def test_warden_refusing_the_sign_in_is_shown_not_crashed(client):
    response = client.get("/callback?" + urlencode({"error": "access_denied",
                                                     "error_description": "the person said no"}))
    assert response.status_code == 400
    assert "Sign-in failed: the person said no" in response.text
