# Seed 000 on Warden: logins, roles, API keys and the owner rule are Warden's; the documents ours.

import os

from flask import Flask, abort, request
from warden_client import Warden

# Pinned to this service's account: role names are per account, and another may have an `admin`.
warden = Warden(os.environ["WARDEN_URL"], audience="warden", account=os.environ["ACCOUNT_ID"])
app = Flask(__name__)
documents = {}  # id -> {"owner_id": <Warden user id>, "title": ...}


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
    documents[str(len(documents) + 1)] = {"owner_id": claims.sub, "title": request.json["title"]}
    return {"id": str(len(documents))}, 201


def document(request, kwargs):  # the resource that owner.cedar, a policy in Warden, looks at
    owner_id = (documents.get(kwargs["resource_id"]) or abort(404))["owner_id"]
    return {"type": "document", "id": kwargs["resource_id"], "attributes": {"owner_id": owner_id}}


@app.get("/protected_resource/<resource_id>")
@warden.permission_required("documents:read", resource=document)
def owned_resource(resource_id):
    return {"message": f"You have accessed resource {resource_id}"}


@app.get("/reports")  # for scripts: a `wk_` API key (or a token) that Warden allows `reports:read`
@warden.permission_required("reports:read")
def reports():
    return {"reports": ["monthly"]}
