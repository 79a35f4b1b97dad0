"""Seed 002 on Warden: a thriftpy2 service whose methods Warden authorizes, one permission each.
Roles grant the permissions (guest < user < admin); every decision lands in Warden's audit log."""

import os

import thriftpy2
from thriftpy2.rpc import make_server
from warden_client import Warden

notes_thrift = thriftpy2.load(os.path.join(os.path.dirname(__file__), "notes.thrift"))
warden = Warden(os.environ.get("WARDEN_URL", "http://127.0.0.1:8080"), audience="warden")
NOTEBOOK = {"type": "notebook", "id": "main", "attributes": {"account_id": os.environ["ACCOUNT_ID"]}}


def requires(permission):
    return warden.thrift_guard(exception=notes_thrift.AccessDenied, permission=permission, resource=NOTEBOOK)


class Notes:
    def __init__(self):
        self.notes = []

    @requires("notes:read")
    def list_notes(self, token):
        return list(self.notes)

    @requires("notes:write")
    def add_note(self, token, text):
        self.notes.append(text)

    @requires("notes:clear")
    def clear_notes(self, token):
        self.notes.clear()


if __name__ == "__main__":
    make_server(notes_thrift.Notes, Notes(), "127.0.0.1", int(os.environ.get("PORT", "9090"))).serve()
