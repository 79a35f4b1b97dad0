"""Loads the AuthZEN 1.0 conformance fixture into a Warden, through its REST API.

The OpenID AuthZEN working group's certification scenario needs subjects `alice` and `bob`
(bob with `role: "admin"`), records `record-1` (active) and `record-2` (archived), actions
`read`, `write` and `delete` (with `soft`), and eight fixed decisions. In Warden that is:

- an account `authzen` with the users `alice` and `bob` (usernames; bob's stored attribute
  `role` is `"admin"`),
- roles granting `record:read`, `record:write`, `record:delete` (alice) and `record:read` (bob),
- two registered resources with their `status`,
- three Cedar policies: archived records are written by admins only, admins may write them,
  and a delete is allowed only when it is soft,
- a service client `authzen-gateway` holding `warden.check:any` in the account: the PEP.

    python fixture.py http://127.0.0.1:8080 admin@localhost 'the admin password'

prints the gateway's client id and secret (the secret is shown once).
"""

from __future__ import annotations

import sys
from typing import Any

import httpx

PASSWORD = "authzen fixture passphrase"
"""The password of alice and bob."""

POLICIES = [
    (
        "archived records are written by admins only",
        'forbid(principal, action == Action::"write", resource) '
        'when { resource has status && resource.status == "archived" } '
        'unless { principal has role && principal.role == "admin" };',
    ),
    (
        "admins write archived records",
        'permit(principal, action == Action::"write", resource) '
        'when { resource has status && resource.status == "archived" '
        '&& principal has role && principal.role == "admin" };',
    ),
    (
        "soft deletes only",
        'forbid(principal, action == Action::"delete", resource) '
        "unless { context has action && context.action has soft && context.action.soft == true };",
    ),
]


def load(base: str, admin_token: str, account_name: str = "authzen") -> dict[str, Any]:
    """Creates the fixture; returns the account id and the gateway's client id and secret."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin_token}"}) as api:

        def call(method: str, path: str, body: Any) -> Any:
            response = api.request(method, path, json=body)
            if response.status_code >= 300:
                raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
            return response.json() if response.content else None

        account = call("POST", "/v1/accounts", {"name": account_name})["id"]

        def role(name: str, permissions: list[str]) -> str:
            body = {"name": name, "account_id": account, "permissions": permissions}
            return str(call("POST", "/v1/roles", body)["id"])

        editor = role("record-editor", ["record:read", "record:write", "record:delete"])
        reader = role("record-reader", ["record:read"])
        for name, attributes, granted in (("alice", {}, editor), ("bob", {"role": "admin"}, reader)):
            body = {
                "email": f"{name}@{account_name}.example",
                "username": name,
                "password": PASSWORD,
                "account_id": account,
                "attributes": attributes,
            }
            user = call("POST", "/v1/users", body)["id"]
            call("POST", f"/v1/users/{user}/roles", {"role_id": granted, "account_id": account})
        for description, cedar in POLICIES:
            body = {"account_id": account, "description": description, "cedar": cedar}
            call("POST", "/v1/policies", body)
        resources = [
            {"type": "record", "id": rid, "account_id": account, "attributes": {"status": status}}
            for rid, status in (("record-1", "active"), ("record-2", "archived"))
        ]
        call("POST", "/v1/resources/bulk", {"resources": resources})
        checker = role("pdp-caller", ["warden.check:any"])
        client = call(
            "POST",
            "/v1/clients",
            {"name": "authzen-gateway", "account_id": account, "roles": [checker]},
        )
        return {
            "account_id": account,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        }


def main() -> None:
    base, email, password = sys.argv[1:4]
    response = httpx.post(
        base + "/oauth/token",
        data={"grant_type": "password", "username": email, "password": password},
    )
    response.raise_for_status()
    loaded = load(base, response.json()["access_token"])
    print(f"account_id: {loaded['account_id']}")
    print(f"client_id: {loaded['client_id']}")
    print(f"client_secret: {loaded['client_secret']}")


if __name__ == "__main__":
    main()
