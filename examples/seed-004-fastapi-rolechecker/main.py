"""Seed 004 on Warden: the RoleChecker is Warden's role dependency, and login is Warden's
`POST /oauth/token`, which takes the seed's OAuth2PasswordRequestForm post as it is."""

import os

from fastapi import Depends, FastAPI
from warden_client import Claims, Warden

# Pinned to the tenant this service belongs to: role names are per account, another has its own.
warden = Warden(os.environ.get("WARDEN_URL", "http://127.0.0.1:8080"), audience="warden",
                account=os.environ["ACCOUNT_ID"])
app = FastAPI()
admin_role_checker = warden.require_role("admin")
user_role_checker = warden.require_role("user")


@app.get("/items/")
async def read_items(current_user: Claims = Depends(admin_role_checker)):
    return [{"item_id": "Foo", "owner": current_user.sub}]


@app.get("/users/")
async def read_users(current_user: Claims = Depends(user_role_checker)):
    return [{"user_id": current_user.sub}]
