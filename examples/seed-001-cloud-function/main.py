"""Seed 001 on Warden: a Functions Framework handler that answers by role. Warden issues the
tokens, so it is Warden that limits who gets one, from where and how often."""

import os

from warden_client import Warden

# Pinned to the tenant this function serves: role names are per account, another has its own.
warden = Warden(os.environ.get("WARDEN_URL", "http://127.0.0.1:8080"), audience="warden",
                account=os.environ["ACCOUNT_ID"])


@warden.roles_required("admin", "user", any_of=True)
def handler(request, claims):
    return "Hello, Admin!" if "admin" in claims.roles else "Hello, User!"
