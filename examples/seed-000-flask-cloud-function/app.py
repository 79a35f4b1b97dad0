"""Seed 000 on Warden: logins, roles, API keys and the owner rule are Warden's; documents ours."""

import os

from flask import Flask, abort, request
from warden_client import TokenError, Warden, WardenError

warden = Warden(os.environ.get("WARDEN_URL", "http://127.0.0.1:8080"), audience="warden")
ACCOUNT_ID = os.environ["ACCOUNT_ID"]  # the tenant this service belongs to
app = Flask(__name__)
documents = {}  # id -> {"owner_id": <Warden user id>, "title": ...}
REPORT = {"type": "report", "id": "monthly", "attributes": {"account_id": ACCOUNT_ID}}


def bearer():
    return request.headers.get("Authorization", "").removeprefix("Bearer ")


def refused(detail, status=401, error="invalid_token"):
    challenge = f', error="{error}", error_description="{detail}"' if error else ""
    return {"detail": detail}, status, {"WWW-Authenticate": f'Bearer realm="warden"{challenge}'}


@app.before_request
def this_account_only():  # role names are per account: another account's `admin` is not ours
    try:
        if warden.verify(bearer()).acct != ACCOUNT_ID:
            return refused("the token was issued in another account")
    except WardenError:
        return None  # no token, an API key, a bad token, Warden down: the route's guard answers


@app.get("/protected_resource")
@warden.jwt_required
def protected_resource():
    return {"message": "You have accessed a protected resource"}


@app.get("/admin_only_resource")
@warden.roles_required("admin")
def admin_only_resource():
    return {"message": "You have accessed an admin-only resource"}


@app.post("/protected_resource")
@warden.jwt_required
def create_resource(claims):
    doc_id = str(len(documents) + 1)
    documents[doc_id] = {"owner_id": claims.sub, "title": request.json["title"]}
    return {"id": doc_id}, 201


def document(request, kwargs):  # the resource Warden's owner policy looks at
    owner_id = (documents.get(kwargs["resource_id"]) or abort(404))["owner_id"]
    attributes = {"owner_id": owner_id, "account_id": ACCOUNT_ID}
    return {"type": "document", "id": kwargs["resource_id"], "attributes": attributes}


@app.get("/protected_resource/<resource_id>")
@warden.permission_required("documents:read", resource=document)
def owned_resource(resource_id):
    return {"message": f"You have accessed resource {resource_id}"}


@app.get("/reports")  # for scripts: an API key (or a token) that Warden allows `reports:read`
def reports():
    if not bearer():
        return refused("this endpoint needs an API key", error=None)
    try:
        if warden.allowed(bearer(), "reports:read", REPORT):
            return {"reports": ["monthly"]}
    except TokenError as err:
        return refused(str(err))
    return refused("this needs the permission `reports:read`", 403, "insufficient_scope")
