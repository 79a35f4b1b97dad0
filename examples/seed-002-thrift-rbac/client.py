"""Call the notes service: `python client.py <token> list | add <text> | clear`."""

import os
import sys

import thriftpy2
from thriftpy2.rpc import make_client

notes_thrift = thriftpy2.load(os.path.join(os.path.dirname(__file__), "notes.thrift"))
notes = make_client(notes_thrift.Notes, "127.0.0.1", int(os.environ.get("PORT", "9090")))
token, command, *rest = sys.argv[1:]
try:
    if command == "list":
        print(notes.list_notes(token))
    elif command == "add":
        notes.add_note(token, " ".join(rest))
    else:
        notes.clear_notes(token)
except notes_thrift.AccessDenied as denied:
    sys.exit(f"AccessDenied {denied.code} {denied.error}: {denied.message}")
