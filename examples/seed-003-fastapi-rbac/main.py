"""Seed 003 on Warden: FastAPI + PostgreSQL, where PostgreSQL holds only the service's own data
(each account's subscription) and every identity and authorization question goes to Warden."""

import datetime
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import httpx
import psycopg
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from warden_client import Claims, Warden

WARDEN_URL = os.environ.get("WARDEN_URL", "http://127.0.0.1:8080")
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/seed003")
warden = Warden(WARDEN_URL, audience="warden")
UPSERT = """INSERT INTO subscriptions (account_id, plan, ends_on, updated_by) VALUES (%s, %s, %s, %s)
ON CONFLICT (account_id) DO UPDATE SET plan = excluded.plan, ends_on = excluded.ends_on,
updated_by = excluded.updated_by, updated_at = now()"""


@asynccontextmanager
async def lifespan(app):
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute((Path(__file__).parent / "schema.sql").read_text())
    yield


app = FastAPI(title="Subscriptions", lifespan=lifespan)


def db():
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        yield connection


class Subscription(BaseModel, extra="forbid"):
    plan: Literal["free", "team", "enterprise"]
    ends_on: datetime.date | None = None


def subscription(request: Request):  # an account's; the tenant fence keeps others' callers out
    account_id = request.path_params["account_id"]
    return {"type": "subscription", "id": account_id, "attributes": {"account_id": account_id}}


@app.get("/accounts/{account_id}/subscription")
def read_subscription(
    account_id: str, connection=Depends(db),
    _: Claims = Depends(warden.require_permission("subscriptions:read", subscription)),
) -> Subscription:
    query = "SELECT plan, ends_on FROM subscriptions WHERE account_id = %s"
    row = connection.execute(query, (account_id,)).fetchone()
    return Subscription(plan=row[0], ends_on=row[1]) if row else Subscription(plan="free")


@app.put("/accounts/{account_id}/subscription")
def update_subscription(
    account_id: str, body: Subscription, connection=Depends(db),
    claims: Claims = Depends(warden.require_permission("subscriptions:update", subscription)),
) -> Subscription:
    connection.execute(UPSERT, (account_id, body.plan, body.ends_on, claims.sub))
    return body


@app.get("/accounts/{account_id}/users")
async def account_users(account_id: str, request: Request, _: Claims = Depends(warden.claims())):
    """The account's users, as far as Warden lets the caller see them."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{WARDEN_URL}/v1/users", params={"account_id": account_id},
                                  headers={"Authorization": request.headers["Authorization"]})
    if answer.status_code != 200:
        raise HTTPException(answer.status_code, answer.json()["detail"])
    return [{key: user[key] for key in ("id", "email", "display_name")} for user in answer.json()["items"]]
