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

Usage: python tests/interop/oidc.py <warden-binary>. The helpers are in oidc_support.py, the
groups of checks in oidc_flows.py, oidc_attacks.py and oidc_totp.py; this script runs them.
"""

import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from oidc_attacks import pkce_and_binding, redirect_uris, replay
from oidc_flows import (
    code_flow,
    consent_decisions,
    consent_page,
    discovery,
    login_page,
    logout,
    prompts,
    public_client,
    sessions_list,
    sso,
)
from oidc_support import ADMIN, PASSWORD, check, register, results, start
from oidc_totp import totp

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
