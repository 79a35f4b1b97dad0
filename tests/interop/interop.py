"""Interop: third-party OAuth2 and JWT libraries against a running Warden.

PyJWT verifies Warden's access tokens offline through the published JWKS (for EdDSA, ES256
and RS256 keys), and Authlib, a real OAuth2 client library, runs the token lifecycle: password
grant, refresh rotation, client credentials with HTTP Basic and with body credentials,
introspection and revocation. Starts its own Warden (the binary path is the first argument)
on a free port with a throw-away SQLite store. Prints "N passed, N failed".
"""

import json
import pathlib
import subprocess
import sys
import urllib.request

import jwt
from authlib.integrations.requests_client import OAuth2Session

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "support"))
import warden_run  # noqa: E402
from warden_run import check, results  # noqa: E402

PASSWORD = "interop admin passphrase"


def start(binary, algorithm=None):
    return warden_run.start(binary, PASSWORD, algorithm)


def verify_offline(base, algorithm):
    session = OAuth2Session(client_id="warden", token_endpoint_auth_method="none")
    token = session.fetch_token(base + "/oauth/token", username="admin@localhost", password=PASSWORD)["access_token"]
    jwks = jwt.PyJWKClient(base + "/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key, algorithms=[algorithm], audience="warden", issuer=base)
    header = jwt.get_unverified_header(token)
    check(f"PyJWT verifies a {algorithm} token through the JWKS", claims["roles"] == ["super_admin"] and header["typ"] == "at+jwt", claims)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    try:
        jwt.decode(tampered, key, algorithms=[algorithm], audience="warden", issuer=base)
        check(f"PyJWT refuses a tampered {algorithm} token", False)
    except jwt.InvalidTokenError:
        check(f"PyJWT refuses a tampered {algorithm} token", True)


def default_tokens(base, node_verifier):
    """A token of the default configuration, checked by libraries left at their defaults."""
    from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
    from joserfc.jwk import KeySet

    session = OAuth2Session(client_id="warden", token_endpoint_auth_method="none")
    token = session.fetch_token(base + "/oauth/token", username="admin@localhost", password=PASSWORD)["access_token"]
    header = jwt.get_unverified_header(token)
    check("the default algorithm is ES256", header["alg"] == "ES256", header)
    claims = jwt.decode(token, jwt.PyJWKClient(base + "/.well-known/jwks.json").get_signing_key_from_jwt(token),
                        algorithms=["ES256"], audience="warden", issuer=base)
    check("a default token carries its roles as the RFC 9068 scope", claims.get("scope") == "super_admin", claims)

    jwks = json.load(urllib.request.urlopen(base + "/.well-known/jwks.json"))

    class Validator(JWTBearerTokenValidator):
        def get_jwks(self):
            return KeySet.import_key_set(jwks)

    validator = Validator(issuer=base, resource_server="warden")
    try:
        validated = validator.authenticate_token(token)
        validator.validate_token(validated, scopes=["super_admin"], request=None)
        check("Authlib's RFC 9068 validator accepts a default token, scope included", validated["sub"] == claims["sub"])
    except Exception as err:  # noqa: BLE001 - any refusal is the failure being checked
        check("Authlib's RFC 9068 validator accepts a default token, scope included", False, repr(err))
    try:
        validator.validate_token(validator.authenticate_token(token), scopes=["auditor"], request=None)
        check("Authlib's RFC 9068 validator refuses a scope the token lacks", False)
    except Exception:  # noqa: BLE001
        check("Authlib's RFC 9068 validator refuses a scope the token lacks", True)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    try:
        validator.authenticate_token(tampered)
        check("Authlib's RFC 9068 validator refuses a tampered token", False)
    except Exception:  # noqa: BLE001
        check("Authlib's RFC 9068 validator refuses a tampered token", True)

    if node_verifier:
        node, script = node_verifier
        for name, candidate, expected in [("accepts", token, 0), ("refuses a tampered", tampered, 1)]:
            run = subprocess.run([node, script, base, candidate], capture_output=True, text=True, timeout=60)
            check(f"npm jose {name} default token", run.returncode == expected, run.stdout + run.stderr)


def lifecycle(base):
    user = OAuth2Session(client_id="warden", token_endpoint_auth_method="none")
    first = user.fetch_token(base + "/oauth/token", username="admin@localhost", password=PASSWORD)
    check("Authlib password grant returns a refresh token", "refresh_token" in first)
    second = user.refresh_token(base + "/oauth/token", refresh_token=first["refresh_token"])
    check("Authlib refresh rotates the refresh token", second["refresh_token"] != first["refresh_token"])
    check("the refreshed token calls the API", user.get(base + "/v1/users/me").json()["email"] == "admin@localhost")
    created = user.post(base + "/v1/clients", json={"name": "interop"}).json()
    basic = OAuth2Session(client_id=created["client_id"], client_secret=created["client_secret"],
                          token_endpoint_auth_method="client_secret_basic")
    issued = basic.fetch_token(base + "/oauth/token", grant_type="client_credentials")
    check("Authlib client_credentials with HTTP Basic", issued["token_type"] == "Bearer" and "refresh_token" not in issued)
    post = OAuth2Session(client_id=created["client_id"], client_secret=created["client_secret"],
                         token_endpoint_auth_method="client_secret_post")
    check("Authlib client_credentials with body credentials",
          post.fetch_token(base + "/oauth/token", grant_type="client_credentials")["token_type"] == "Bearer")
    active = basic.introspect_token(base + "/oauth/introspect", token=second["access_token"]).json()
    check("Authlib introspection sees the live token", active.get("active") is True, active)
    revoked = user.revoke_token(base + "/oauth/revoke", token=second["refresh_token"], token_type_hint="refresh_token")
    check("Authlib revocation answers 200", revoked.status_code == 200)
    after = basic.introspect_token(base + "/oauth/introspect", token=second["access_token"]).json()
    check("revocation ends the session's access token", after == {"active": False}, after)


def main():
    binary = sys.argv[1]
    # Optional: node and the path of verify.mjs, with the npm `jose` package installed beside it.
    node_verifier = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else None
    process, base = start(binary)
    try:
        default_tokens(base, node_verifier)
    finally:
        process.terminate()
        process.wait(timeout=10)
    for algorithm in ["EdDSA", "ES256", "RS256"]:
        process, base = start(binary, algorithm)
        try:
            verify_offline(base, algorithm)
            if algorithm == "EdDSA":
                lifecycle(base)
        finally:
            process.terminate()
            process.wait(timeout=10)
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
