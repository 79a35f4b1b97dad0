"""Seed 001 on Warden: a Functions Framework handler that answers by role. Warden issues the
tokens, so it is Warden that limits who gets one, from where and how often."""

import os

from warden_client import Warden

warden = Warden(os.environ.get("WARDEN_URL", "http://127.0.0.1:8080"), audience="warden")
ACCOUNT_ID = os.environ["ACCOUNT_ID"]  # the tenant this function serves


@warden.roles_required("admin", "user", any_of=True)
def handler(request, claims):
    if claims.acct != ACCOUNT_ID:  # role names are per account: another account's are not ours
        challenge = 'Bearer realm="warden", error="invalid_token", error_description="another account"'
        return "Invalid token: it was issued in another account.", 401, {"WWW-Authenticate": challenge}
    return "Hello, Admin!" if "admin" in claims.roles else "Hello, User!"
