"""Provisioning through Warden's REST API, as an operator would do it with curl."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

from .server import ADMIN_EMAIL, ADMIN_PASSWORD

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """A fresh name, so tests never depend on each other's data."""
    return f"{prefix}{next(_counter)}"


def expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code} "
        f"(expected {status}): {response.text}"
    )
    return response.json() if response.content else None


def token_response(
    base: str, username: str, password: str, *, account: str | None = None, ip: str | None = None
) -> httpx.Response:
    """`POST /oauth/token` with the password grant, form-encoded like OAuth2PasswordRequestForm.

    `ip` is sent as `X-Forwarded-For`: Warden believes it only from `trusted_proxies`.
    """
    form = {"grant_type": "password", "username": username, "password": password}
    if account:
        form["account"] = account
    headers = {"X-Forwarded-For": ip} if ip else {}
    return httpx.post(base + "/oauth/token", data=form, headers=headers)


def login(base: str, username: str, password: str, *, account: str | None = None) -> str:
    return expect(token_response(base, username, password, account=account), 200)["access_token"]


@dataclass
class User:
    id: str
    email: str
    password: str
    account_id: str | None

    def token(self, base: str) -> str:
        return login(base, self.email, self.password, account=self.account_id)


class Api:
    """The admin API, called with one bearer token (the super admin's by default)."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token or login(base, ADMIN_EMAIL, ADMIN_PASSWORD)
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {self.token}"})

    def as_(self, token: str) -> Api:
        """The same API called with another token."""
        return Api(self.base, token)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, json=body)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return self.http.patch(path, json=body)

    def delete(self, path: str, **params: Any) -> httpx.Response:
        return self.http.delete(path, params=params)

    # -- the nouns -------------------------------------------------------------------------

    def account(self, name: str | None = None, **fields: Any) -> str:
        body = {"name": name or unique("acct"), **fields}
        return expect(self.post("/v1/accounts", body), 201)["id"]

    def user(
        self, account_id: str | None, *, email: str | None = None, username: str | None = None,
        password: str = "a long example passphrase", **fields: Any,
    ) -> User:
        email = email or f"{unique('user')}@example.test"
        body: dict[str, Any] = {"email": email, "password": password, **fields}
        if username:
            body["username"] = username
        if account_id:
            body["account_id"] = account_id
        created = expect(self.post("/v1/users", body), 201)
        return User(created["id"], email, password, account_id)

    def role(
        self, name: str, account_id: str | None, permissions: list[str], inherits: list[str] = ()
    ) -> str:
        body = {"name": name, "account_id": account_id, "permissions": list(permissions),
                "inherits": list(inherits)}
        return expect(self.post("/v1/roles", body), 201)["id"]

    def grant(self, user_id: str, role_id: str, account_id: str | None) -> None:
        expect(self.post(f"/v1/users/{user_id}/roles", {"role_id": role_id, "account_id": account_id}), 201)

    def policy(self, cedar: str, account_id: str | None, description: str = "example") -> str:
        body = {"account_id": account_id, "description": description, "cedar": cedar}
        return expect(self.post("/v1/policies", body), 201)["id"]

    def audit(self, **params: Any) -> list[dict[str, Any]]:
        return expect(self.get("/v1/audit", limit=1000, **params), 200)["items"]
