"""The browser checks of TOTP (RFC 6238, codes from pyotp): a user who enrolled through the API
signs in with the second-factor page (a wrong code first, refused), another browser with a
recovery code (once); and a member of an account that requires a second factor sets it up
after the password (QR code, key, first code), sees the recovery codes and continues."""

import base64
import json
import re
import time

import pyotp
from signin_support import Request, call, check, query, submit

# --- TOTP (RFC 6238) -------------------------------------------------------------------------

TOTP_PASSWORD = "browser totp passphrase"
CODE_LABEL = "Six-digit code from your authenticator app"
SETUP_LABEL = "Six-digit code from the app"
RECOVERY_CODE = re.compile(r"[a-z0-9]{5}-[a-z0-9]{5}")


def away_from_step_boundary():
    """Sleeps into the next 30 s step when this one ends within 10 s: a code computed for a
    neighbouring step must still be a neighbour when Warden checks it."""
    if time.time() % 30 > 20:
        time.sleep(30.5 - time.time() % 30)


def wrong_code(totp):
    """A six-digit code that is none of those Warden would accept now."""
    near = {totp.at(time.time() + d) for d in (-30, 0, 30)}
    return next(c for c in ("123456", "654321", "111111", "222222") if c not in near)


def claims_of(id_token):
    """An ID token's claims, unverified (the interop test verifies signatures)."""
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def password_grant(base, email):
    return call(base + "/oauth/token", form={"grant_type": "password", "client_id": "warden", "username": email,
                                             "password": TOTP_PASSWORD})


def create_user(base, admin, email, account_id=None):
    body = {"email": email, "password": TOTP_PASSWORD}
    if account_id:
        body["account_id"] = account_id
    status, user = call(base + "/v1/users", token=admin, body=body)
    check(f"TOTP: creating the user {email} answers 201", status == 201 and user.get("id"), f"{status} {user}")
    return user


def enrolled_user(base, admin):
    """A user who enrols TOTP through the API, confirmed with the previous step's code (so the
    current one is still unused for the browser); answers (email, pyotp TOTP, recovery codes)."""
    email = "totp-browser@example.com"
    create_user(base, admin, email)
    status, grant = password_grant(base, email)
    check("TOTP: the new user gets a token from the password grant", status == 200 and grant.get("access_token"),
          f"{status} {grant}")
    token = grant.get("access_token")
    status, enrolment = call(base + "/v1/users/me/totp", token=token)
    uri, secret = enrolment.get("otpauth_uri", ""), enrolment.get("secret", "")
    parsed = pyotp.parse_uri(uri) if uri.startswith("otpauth://totp/") else None
    check("TOTP: POST /v1/users/me/totp answers 201 with an otpauth URI for Warden:<email> holding the secret",
          status == 201 and secret and parsed is not None and parsed.secret == secret
          and parsed.issuer == "Warden" and parsed.name == email, f"{status} {enrolment}")
    totp = pyotp.TOTP(secret)
    away_from_step_boundary()
    status, confirmed = call(base + "/v1/users/me/totp/confirm", token=token,
                             body={"code": totp.at(time.time() - 30)})
    codes = confirmed.get("recovery_codes", [])
    check("TOTP: confirming with the app's code answers 200 with ten recovery codes",
          status == 200 and len(set(codes)) == 10 and all(RECOVERY_CODE.fullmatch(c) for c in codes),
          f"{status} {confirmed}")
    status, refused = password_grant(base, email)
    check("TOTP: the password grant then answers invalid_grant saying a second factor is needed",
          status == 400 and refused.get("error") == "invalid_grant"
          and "second factor" in refused.get("error_description", ""), f"{status} {refused}")
    return email, totp, codes


def is_second_factor(pages):
    return pages.on_warden() and pages.page.locator("form[action$='/oauth/login/second-factor'] #code").count() == 1


def password_step(pages, client, email, **extra):
    """Opens a new authorization request and signs in with `email`'s password; answers it."""
    page = pages.page
    request = Request(pages.base, client, pages.rp + "/callback", **extra)
    page.goto(request.url)
    page.get_by_label("Email or username").fill(email)
    page.locator("#password").fill(TOTP_PASSWORD)
    submit(page, page.get_by_role("button", name="Sign in").click)
    return request


def code_refused(pages, response, field):
    """Whether a refused code answered the code page again, with 401 and 'not correct'."""
    return (response is not None and response.status == 401 and is_second_factor(pages)
            and pages.page.locator("[role=alert]").count() == 1
            and "not correct" in pages.page.locator("[role=alert]").inner_text()
            and pages.page.get_by_label(field).count() == 1)


def lands_with_code(pages, client, request, what):
    """Allows on the consent page if it comes and waits for the client; answers the claims of
    the ID token the code exchanges for."""
    page = pages.page
    if pages.is_consent():
        submit(page, page.get_by_role("button", name="Allow").click)
    landed = pages.wait_for_rp("/callback")
    answer = query(page.url)
    check(f"TOTP: {what} lands at the client with a code and the state",
          landed and answer.get("code") and answer.get("state") == request.state, page.url)
    status, tokens = request.exchange(pages.base, client, answer.get("code", ""))
    check(f"TOTP: the code after {what} exchanges for an ID token", status == 200 and tokens.get("id_token"),
          f"{status} {tokens}")
    return claims_of(tokens["id_token"]) if tokens.get("id_token") else {}


def second_factor(pages, web, email, totp):
    """The second-factor page: found by its label, a wrong code refused, then the app's code."""
    page = pages.page
    request = password_step(pages, web, email)
    check("TOTP: after the password a user with a factor gets the second-factor page", is_second_factor(pages),
          page.url)
    field = page.get_by_label(CODE_LABEL)
    check(f"TOTP: the code field is found by its label '{CODE_LABEL}'",
          field.count() == 1 and field.get_attribute("id") == "code" and field.get_attribute("name") == "code",
          field.count())
    check("TOTP: the code field has the focus and asks for a one-time code",
          page.evaluate("document.activeElement && document.activeElement.id") == "code"
          and field.get_attribute("autocomplete") == "one-time-code" and field.get_attribute("inputmode") == "numeric",
          page.evaluate("document.activeElement && document.activeElement.outerHTML"))
    check("TOTP: a 'Continue' button submits the code", page.get_by_role("button", name="Continue").count() == 1)
    pages.shot("second-factor")

    field.fill(wrong_code(totp))
    response = submit(page, page.get_by_role("button", name="Continue").click)
    check("TOTP: a wrong code shows the page again (401) saying it is not correct",
          code_refused(pages, response, CODE_LABEL), f"{response and response.status} {page.url}")
    pages.shot("second-factor-error")

    # The app's current code, typed with the keyboard and sent with Enter.
    page.get_by_label(CODE_LABEL).focus()
    page.keyboard.type(totp.now())
    submit(page, lambda: page.keyboard.press("Enter"))
    claims = lands_with_code(pages, web, request, "the app's code")
    check("TOTP: the ID token's amr after a TOTP sign-in is [pwd, otp, mfa]",
          claims.get("amr") == ["pwd", "otp", "mfa"], claims)


def recovery_code(pages, web, email, codes):
    """Another browser signs in with a recovery code instead; it works once."""
    page = pages.page
    request = password_step(pages, web, email)
    check("TOTP: a second browser gets the second-factor page, which mentions recovery codes",
          is_second_factor(pages) and "recovery code" in page.locator("body").inner_text(), page.url)
    page.get_by_label(CODE_LABEL).fill(codes[0])
    submit(page, page.get_by_role("button", name="Continue").click)
    claims = lands_with_code(pages, web, request, "a recovery code")
    check("TOTP: the ID token's amr after a recovery code is [pwd, mfa]", claims.get("amr") == ["pwd", "mfa"],
          claims)
    password_step(pages, web, email, prompt="login")
    page.get_by_label(CODE_LABEL).fill(codes[0])
    response = submit(page, page.get_by_role("button", name="Continue").click)
    check("TOTP: the same recovery code a second time is refused (401, not correct)",
          code_refused(pages, response, CODE_LABEL), f"{response and response.status} {page.url}")


def account_policy(pages, admin, web):
    """An account requires a second factor: its member without one sets it up after the
    password (QR code, key, first code), is shown the recovery codes and continues."""
    page, base = pages.page, pages.base
    status, account = call(base + "/v1/accounts", token=admin, body={"name": "acme"})
    check("TOTP: creating the account 'acme' answers 201", status == 201 and account.get("id"), f"{status} {account}")
    status, changed = call(f"{base}/v1/accounts/{account.get('id')}", token=admin, method="PATCH",
                           body={"require_second_factor": True})
    check("TOTP: PATCH require_second_factor true on the account answers 200",
          status == 200 and changed.get("require_second_factor") is True, f"{status} {changed}")
    email = "member@acme.example"
    create_user(base, admin, email, account.get("id"))

    request = password_step(pages, web, email)
    check("TOTP: after the password a member without a factor gets the setup page (the same form)",
          is_second_factor(pages), page.url)
    qr = page.locator("figure.qr svg")
    box = qr.bounding_box() if qr.count() == 1 else None
    check("TOTP: the setup page shows the QR code as an inline <svg>, visible and of nonzero size",
          qr.count() == 1 and qr.is_visible() and box and box["width"] > 0 and box["height"] > 0, box)
    key = page.locator("code.secret")
    secret = key.inner_text().strip() if key.count() == 1 else ""
    check("TOTP: the setup page shows the key in base32", re.fullmatch(r"[A-Z2-7]{16,}", secret), secret)
    field = page.get_by_label(SETUP_LABEL)
    check(f"TOTP: the setup page's code field is found by its label '{SETUP_LABEL}'",
          field.count() == 1 and field.get_attribute("id") == "code", field.count())
    pages.shot("totp-setup")
    totp = pyotp.TOTP(secret or "A" * 32)

    field.fill(wrong_code(totp))
    response = submit(page, page.get_by_role("button", name="Continue").click)
    check("TOTP: a wrong first code shows the setup again (401, not correct) with the same key",
          code_refused(pages, response, SETUP_LABEL) and page.locator("figure.qr svg").count() == 1
          and page.locator("code.secret").inner_text().strip() == secret,
          f"{response and response.status} {page.url}")

    page.get_by_label(SETUP_LABEL).fill(totp.now())
    response = submit(page, page.get_by_role("button", name="Continue").click)
    check("TOTP: the app's first code shows 'Save your recovery codes', not to be cached",
          response is not None and response.status == 200 and pages.on_warden()
          and page.get_by_role("heading", name="Save your recovery codes").count() == 1
          and "no-store" in response.headers.get("cache-control", ""),
          f"{response and response.status} {page.url} {response and response.headers}")
    codes = [c.strip() for c in page.locator("li > code").all_inner_texts()]
    check("TOTP: the page lists ten distinct recovery codes",
          len(set(codes)) == 10 and all(RECOVERY_CODE.fullmatch(c) for c in codes), codes)
    link = page.locator("a.button", has_text="Continue")
    href = link.get_attribute("href") if link.count() == 1 else None
    check("TOTP: a 'Continue' link leads on to /oauth/authorize",
          page.get_by_role("link", name="Continue").count() == 1 and (href or "").startswith("/oauth/authorize?"),
          href)
    pages.shot("recovery-codes")
    submit(page, link.click)
    claims = lands_with_code(pages, web, request, "Continue after the recovery codes")
    check("TOTP: the ID token's amr after setting up the factor is [pwd, otp, mfa]",
          claims.get("amr") == ["pwd", "otp", "mfa"], claims)
