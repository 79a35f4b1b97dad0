"""Seed 004 on Warden: the RoleChecker is Warden's role dependency, and login is Warden's
`POST /oauth/token`, which takes the seed's OAuth2PasswordRequestForm post as it is."""

import os

from fastapi import Depends, FastAPI, HTTPException
from warden_client import Claims, Warden

warden = Warden(os.environ.get("WARDEN_URL", "http://127.0.0.1:8080"), audience="warden")
ACCOUNT_ID = os.environ["ACCOUNT_ID"]  # the tenant this service belongs to


def this_account_only(claims: Claims = Depends(warden.claims())):  # role names are per account
    if claims.acct != ACCOUNT_ID:
        challenge = 'Bearer realm="warden", error="invalid_token", error_description="another account"'
        raise HTTPException(401, "the token was issued in another account", {"WWW-Authenticate": challenge})


app = FastAPI(dependencies=[Depends(this_account_only)])
admin_role_checker = warden.require_role("admin")
user_role_checker = warden.require_role("user")


@app.get("/items/")
async def read_items(current_user: Claims = Depends(admin_role_checker)):
    return [{"item_id": "Foo", "owner": current_user.sub}]


@app.get("/users/")
async def read_users(current_user: Claims = Depends(user_role_checker)):
    return [{"user_id": current_user.sub}]
