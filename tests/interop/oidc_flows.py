"""The OpenID Connect interop checks of the flows that must work: discovery, the login and
consent pages (with login CSRF and session fixation), the code flow with Authlib, sessions,
SSO and prompts, consent decisions, a public client and RP-initiated logout."""

import re
import time

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from oidc_support import (
    ADMIN,
    BYE,
    CALLBACK,
    PASSWORD,
    REDIRECTS,
    SCOPE,
    Browser,
    authorize_url,
    check,
    form_for,
    framing_refused,
    fresh_code,
    hidden,
    is_invalid_grant,
    is_login_page,
    parse,
    pkce,
    query,
    refresh,
    session_cookies,
    session_value,
    sets_live_session,
    token_request,
    verify_id_token,
)

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
