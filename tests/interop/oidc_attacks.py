"""The OpenID Connect interop checks of what must be refused: code replay (which also revokes
what the code issued), PKCE missing, wrong or `plain`, a code used by another client or with
another redirect URI, and unregistered redirect URIs."""

import requests
from oidc_support import (
    CALLBACK,
    CALLBACK_2,
    REDIRECTS,
    Browser,
    authorize_url,
    basic,
    check,
    exchange,
    fresh_code,
    is_invalid_grant,
    pkce,
    query,
    refresh,
    token_request,
    userinfo_status,
)

# --- what must be refused ---------------------------------------------------------------------

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
