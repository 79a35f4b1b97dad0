"""A gateway-style PEP in front of an unmodified records API: it verifies the caller's Warden
token offline, turns the HTTP request into an AuthZEN question, asks Warden (the PDP) and
forwards the request only on `"decision": true`.

    GET    /records/{id}              -> read
    PUT    /records/{id}              -> write
    DELETE /records/{id}?soft=true    -> delete, with action properties {"soft": true}

The subject is the token's user, named by its Warden id (`identity`, as gateways send it); the
resource is the record, whose attributes Warden knows from its registry, so the gateway never
loads a record to decide.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from warden_client import TokenError, Warden, WardenUnavailableError
from warden_client.authzen import PDP

ACTIONS = {"GET": "read", "PUT": "write", "DELETE": "delete"}


def upstream() -> FastAPI:
    """The protected service: it knows nothing about authorization."""
    app = FastAPI()
    records: dict[str, dict[str, Any]] = {}

    @app.get("/records/{rid}")
    def read(rid: str) -> dict[str, Any]:
        return records.get(rid, {"id": rid})

    @app.put("/records/{rid}")
    async def write(rid: str, request: Request) -> dict[str, Any]:
        records[rid] = {"id": rid, **(await request.json())}
        return records[rid]

    @app.delete("/records/{rid}", status_code=204)
    def delete(rid: str) -> None:
        records.pop(rid, None)

    return app


def gateway(base: str, client_id: str, client_secret: str, protected: FastAPI) -> FastAPI:
    warden = Warden(base, audience="warden")
    pdp = PDP(base, client_id=client_id, client_secret=client_secret)
    app = FastAPI()

    @app.middleware("http")
    async def enforce(request: Request, call_next: Any) -> Response:
        parts = request.url.path.strip("/").split("/")
        action = ACTIONS.get(request.method)
        if len(parts) != 2 or parts[0] != "records" or action is None:
            return JSONResponse({"detail": "no such route"}, status_code=404)
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return JSONResponse({"detail": "log in"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            claims = warden.verify(header[7:])
            allowed = pdp.evaluate(
                {"type": "identity", "id": claims.sub},
                {"name": action, "properties": {"soft": request.query_params.get("soft") == "true"}},
                {"type": "record", "id": parts[1]},
            )
        except TokenError as err:
            return JSONResponse({"detail": str(err)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        except WardenUnavailableError:
            return JSONResponse({"detail": "authorization unavailable"}, status_code=503)
        if not allowed:
            return JSONResponse({"detail": f"{action} is not allowed on this record"}, status_code=403)
        return await call_next(request)

    app.mount("/", protected)
    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        gateway(os.environ["WARDEN_URL"], os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"], upstream()),
        port=int(os.environ.get("PORT", "8090")),
    )
