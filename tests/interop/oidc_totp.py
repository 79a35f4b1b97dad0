"""The OpenID Connect interop checks of TOTP: enrolment through the API, the password grant's
refusal, the hosted second-factor step with `amr` in the ID token, no code accepted twice,
a recovery code, and an administrator's reset."""

import re
import time
from urllib.parse import unquote, urljoin, urlsplit

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from oidc_support import (
    CALLBACK,
    REDIRECTS,
    SCOPE,
    Browser,
    authorize_url,
    away_from_step_boundary,
    check,
    exchange,
    form_for,
    hidden,
    parse,
    pkce,
    query,
    sets_live_session,
    totp_at,
    verify_id_token,
)

# --- the second-factor step -------------------------------------------------------------------

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
          pages in (["login"], ["login", "consent"]) and query(location or "").get("code"), (pages, location))
