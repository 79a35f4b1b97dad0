"""Seed 002 against a live Warden: a real thriftpy2 server and client over TCP; admin, user
and guest hold different permission sets; refusals arrive as the IDL's AccessDenied; every
decision is in Warden's audit log."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from thriftpy2.rpc import make_client, make_server
from thriftpy2.transport import TTransportException

from _testkit.attacks import bad_tokens
from _testkit.server import free_port

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def warden_settings():
    return {"audit_allowed_every": "1", "audit_denial_window": "0"}  # every decision audited


@pytest.fixture(scope="module")
def world(warden, admin):
    acme, globex = admin.account(), admin.account()
    admin.policy((HERE / "tenant-fence.cedar").read_text(), None, "tenant fence")
    guest = admin.role("guest", acme, ["notes:read"])
    user = admin.role("user", acme, ["notes:write"], inherits=["guest"])
    admin_role = admin.role("admin", acme, ["notes:clear"], inherits=["user"])
    people = {name: admin.user(acme) for name in ("admin", "user", "guest", "nobody")}
    for name, role in (("admin", admin_role), ("user", user), ("guest", guest)):
        admin.grant(people[name].id, role, acme)
    people["mallory"] = admin.user(globex)  # Globex's admin, with Globex's own notes:* role
    admin.grant(people["mallory"].id, admin.role("admin", globex, ["notes:*"]), globex)
    tokens = {name: person.token(warden.base) for name, person in people.items()}
    return SimpleNamespace(acme=acme, people=people, tokens=tokens)


@pytest.fixture(scope="module")
def service(warden, world):
    """The example's server on a free port, in a thread; yields its module and a connected client."""
    os.environ.update(WARDEN_URL=warden.base, ACCOUNT_ID=world.acme)
    sys.path.insert(0, str(HERE))
    module = importlib.import_module("server")
    port = free_port()
    rpc = make_server(module.notes_thrift.Notes, module.Notes(), "127.0.0.1", port)
    threading.Thread(target=rpc.serve, daemon=True).start()
    client = connect(module.notes_thrift.Notes, port)
    yield SimpleNamespace(module=module, client=client)
    client.close()
    rpc.close()


def connect(service, port):
    deadline = time.monotonic() + 10
    while True:  # the server thread may not listen yet
        try:
            return make_client(service, "127.0.0.1", port, timeout=10_000)
        except TTransportException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def denied(service, call, *args):
    with pytest.raises(service.module.notes_thrift.AccessDenied) as caught:
        getattr(service.client, call)(*args)
    return caught.value


def test_each_role_has_its_own_permission_set(service, world):
    tokens, notes = world.tokens, service.client
    notes.add_note(tokens["user"], "from the user")
    notes.add_note(tokens["admin"], "from the admin")
    assert notes.list_notes(tokens["guest"]) == ["from the user", "from the admin"]

    refused = denied(service, "add_note", tokens["guest"], "a guest writes")
    assert (refused.code, refused.error) == (403, "insufficient_scope")
    assert refused.message == "this needs the permission `notes:write`"
    assert denied(service, "clear_notes", tokens["user"]).code == 403
    assert denied(service, "list_notes", tokens["nobody"]).code == 403

    notes.clear_notes(tokens["admin"])
    assert notes.list_notes(tokens["user"]) == []


def test_a_bearer_prefix_is_accepted_and_an_empty_token_is_401(service, world):
    assert service.client.list_notes("Bearer " + world.tokens["guest"]) == []
    refused = denied(service, "list_notes", "")
    assert refused.code == 401
    assert refused.message == "this endpoint needs a bearer access token"


@pytest.mark.parametrize("kind", ["forged", "tampered", "unsigned", "hmac-confused", "garbage"])
def test_bad_tokens_are_refused_with_the_typed_exception(service, world, jwks, kind):
    token = bad_tokens(world.tokens["guest"], jwks, roles=["admin"], scope="admin")[kind]
    refused = denied(service, "clear_notes", token)
    assert (refused.code, refused.error) == (401, "invalid_token")


def test_an_expired_token_is_refused(service, world, after_expiry):
    refused = denied(service, "list_notes", world.tokens["admin"])
    assert (refused.code, refused.error) == (401, "invalid_token")
    assert "expired" in refused.message


def test_another_tenants_admin_is_denied_by_the_tenant_fence(service, world):
    refused = denied(service, "clear_notes", world.tokens["mallory"])
    assert (refused.code, refused.error) == (403, "insufficient_scope")


def test_decisions_are_in_the_audit_log(service, admin, world):
    service.client.list_notes(world.tokens["guest"])
    denied(service, "clear_notes", world.tokens["guest"])
    denied(service, "clear_notes", world.tokens["mallory"])
    guest, mallory = world.people["guest"].id, world.people["mallory"].id

    def entries(action, principal):
        return [entry["details"] for entry in admin.audit(action=action)
                if entry["target"] == "notebook:main" and entry["details"]["principal"] == f"user:{principal}"]

    allowed = entries("check.allowed", guest)
    assert any(d["action"] == "notes:read" and d["reasons"][0]["role"] == "guest" for d in allowed)
    assert any(d["action"] == "notes:clear" for d in entries("check.denied", guest))
    fenced = [d for d in entries("check.denied", mallory) if d["action"] == "notes:clear"]
    assert fenced and fenced[0]["reasons"][0]["effect"] == "forbid"  # the tenant fence, by id
