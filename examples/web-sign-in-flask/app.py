# A web app that signs people in with Warden (OpenID Connect, code flow with PKCE) through
# Authlib: Authlib reads Warden's discovery document, checks `state`, exchanges the code and
# validates the ID token (signature by Warden's JWKS, issuer, audience, expiry, nonce).

import os
import secrets

from authlib.integrations.flask_client import OAuth, OAuthError
from flask import Flask, redirect, session
from joserfc.errors import JoseError
from markupsafe import escape

WARDEN_URL = os.environ["WARDEN_URL"]  # e.g. http://127.0.0.1:8080
APP_URL = os.environ.get("APP_URL", "http://127.0.0.1:5000")  # as registered at Warden

app = Flask(__name__)
app.secret_key = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
oauth = OAuth(app)
oauth.register(
    name="warden",
    client_id=os.environ["CLIENT_ID"],
    client_secret=os.environ["CLIENT_SECRET"],
    server_metadata_url=WARDEN_URL + "/.well-known/openid-configuration",
    client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
)


@app.get("/")
def home():
    user = session.get("user")
    if not user:
        return '<p><a href="/login">Sign in</a></p>'
    return f'<p>Signed in as {escape(user["email"])}</p><p><a href="/logout">Sign out</a></p>'


@app.get("/login")
def login():
    # Authlib keeps the state, nonce and PKCE verifier in the session until the callback.
    return oauth.warden.authorize_redirect(APP_URL + "/callback")


@app.get("/callback")
def callback():
    token = oauth.warden.authorize_access_token()
    session.clear()  # a fresh session for the signed-in person
    session["user"] = {"sub": token["userinfo"]["sub"], "email": token["userinfo"]["email"]}
    session["id_token"] = token["id_token"]
    return redirect("/")


@app.get("/logout")
def logout():
    # RP-initiated logout: Warden ends its session and sends the browser back here.
    response = oauth.warden.logout_redirect(APP_URL + "/", id_token_hint=session.get("id_token"))
    session.clear()
    return response


@app.errorhandler(OAuthError)  # Warden said no, or the state is not this session's
@app.errorhandler(JoseError)  # the ID token failed a check (signature, nonce, audience...)
def sign_in_failed(error):
    return f"<p>Sign-in failed: {escape(error.description or error.error)}</p>", 400
