"""The browser checks of the hosted pages: the login page (a wrong password, then the right one
typed with the keyboard), consent, SSO, the error page for an unregistered redirect URI,
framing, signing out (with nowhere to return and back to the client) and a phone's screen."""

import os
import secrets
import urllib.parse

from signin_support import ADMIN, PASSWORD, RelyingParty, Request, check, query, submit

# --- the hosted pages -----------------------------------------------------------------------

def login_page(pages, web):
    page = pages.page
    request = Request(pages.base, web, pages.rp + "/callback")
    response = page.goto(request.url)
    check("authorize without a session shows the login page", response is not None and response.status == 200
          and pages.is_login(), f"{response and response.status} {page.url}")
    check("the login page says it must not be framed",
          response is not None and response.headers.get("x-frame-options", "").upper() == "DENY"
          and "frame-ancestors 'none'" in response.headers.get("content-security-policy", ""),
          response and response.headers)
    username = page.get_by_label("Email or username")
    check("the username field is found by its label 'Email or username'",
          username.count() == 1 and username.get_attribute("id") == "username", username.count())
    check("the password field is a password input",
          page.locator("#password").get_attribute("type") == "password")
    check("a 'Sign in' button submits the form", page.get_by_role("button", name="Sign in").count() == 1)
    pages.shot("login")

    # A wrong password, typed with fill and submitted with the mouse.
    username.fill(ADMIN)
    page.locator("#password").fill("not the passphrase")
    submit(page, page.get_by_role("button", name="Sign in").click)
    check("a wrong password shows the login page again saying it is incorrect",
          pages.is_login() and "incorrect" in page.content().lower(), page.url)
    pages.shot("login-error")

    # The right one with the keyboard only: type, Tab to the password, type, Enter.
    page.get_by_label("Email or username").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    check("Tab moves from the username to the password field",
          page.evaluate("document.activeElement && document.activeElement.id") == "password",
          page.evaluate("document.activeElement && document.activeElement.outerHTML"))
    page.keyboard.type(PASSWORD)
    submit(page, lambda: page.keyboard.press("Enter"))
    return request


def consent(pages, web, request):
    page = pages.page
    check("after sign-in a third-party client shows the consent page", pages.is_consent(), page.url)
    check("the consent page names the client", page.get_by_text(web["name"]).count() >= 1)
    allow, deny = page.get_by_role("button", name="Allow"), page.get_by_role("button", name="Deny")
    check("the consent page has Allow and Deny buttons", allow.count() == 1 and deny.count() == 1)
    pages.shot("consent")
    submit(page, allow.click)
    landed = pages.wait_for_rp("/callback")
    answer = query(page.url)
    check("Allow lands the browser back at the client with a code, the state and iss",
          landed and answer.get("code") and answer.get("state") == request.state and answer.get("iss") == pages.base,
          page.url)
    status, tokens = request.exchange(pages.base, web, answer.get("code", ""))
    check("the code from the browser exchanges for an ID token", status == 200 and tokens.get("id_token"),
          f"{status} {tokens}")
    cookies = {c["name"]: c for c in page.context.cookies(pages.base + "/oauth/authorize")}
    session = cookies.get("warden_session", {})
    check("the browser holds warden_session, HttpOnly and SameSite=Lax",
          session.get("httpOnly") is True and session.get("sameSite") == "Lax", session)


def sso(pages, portal):
    page = pages.page
    request = Request(pages.base, portal, pages.rp + "/callback")
    page.goto(request.url)
    asked_password = pages.is_login()
    if pages.is_consent():
        submit(page, page.get_by_role("button", name="Allow").click)
    landed = pages.wait_for_rp("/callback")
    answer = query(page.url)
    check("SSO: a second client signs in without the login page",
          landed and answer.get("code") and answer.get("state") == request.state and not asked_password, page.url)
    status, tokens = request.exchange(pages.base, portal, answer.get("code", ""))
    check("the SSO code exchanges for tokens", status == 200 and tokens.get("access_token"), f"{status} {tokens}")


def error_page(pages, web):
    page = pages.page
    before = len(RelyingParty.seen)
    request = Request(pages.base, web, pages.rp + "/callbackx")
    response = page.goto(request.url)
    check("an unregistered redirect_uri shows a 400 error page on Warden",
          response is not None and response.status == 400 and pages.on_warden()
          and page.locator("body").inner_text().strip() != "", f"{response and response.status} {page.url}")
    check("the unregistered redirect_uri is never visited", len(RelyingParty.seen) == before,
          RelyingParty.seen[before:])
    pages.shot("error")


def sign_out(pages, web):
    page = pages.page
    # With nowhere to return: confirmation, then the "signed out" page.
    response = page.goto(pages.base + "/oauth/logout")
    button = page.get_by_role("button", name="Sign out")
    check("logout without id_token_hint asks for confirmation",
          response is not None and response.status == 200 and pages.on_warden() and button.count() == 1
          and page.locator("form[action$='/oauth/logout']").count() == 1, f"{response and response.status} {page.url}")
    pages.shot("logout")
    submit(page, button.click)
    check("Sign out with nowhere to return shows a signed-out page",
          pages.on_warden() and "signed out" in page.locator("body").inner_text().lower(), page.url)
    pages.shot("signed-out")
    page.goto(Request(pages.base, web, pages.rp + "/callback").url)
    check("after signing out authorize shows the login page again", pages.is_login(), page.url)

    # Sign in again, then sign out returning to the client with its state.
    page.get_by_label("Email or username").fill(ADMIN)
    page.locator("#password").fill(PASSWORD)
    submit(page, page.get_by_role("button", name="Sign in").click)
    if pages.is_consent():
        submit(page, page.get_by_role("button", name="Allow").click)
    check("signing in again lands at the client", pages.wait_for_rp("/callback"), page.url)
    state = secrets.token_urlsafe(12)
    page.goto(pages.base + "/oauth/logout?" + urllib.parse.urlencode(
        {"client_id": web["client_id"], "post_logout_redirect_uri": pages.rp + "/bye", "state": state}))
    button = page.get_by_role("button", name="Sign out")
    check("logout with a client but no id_token_hint asks for confirmation", button.count() == 1, page.url)
    submit(page, button.click)
    landed = pages.wait_for_rp("/bye")
    check("Sign out returns to the client's post_logout_redirect_uri with the state",
          landed and query(page.url).get("state") == state, page.url)
    page.goto(Request(pages.base, web, pages.rp + "/callback").url)
    check("after that logout authorize shows the login page again", pages.is_login(), page.url)


def framing(pages, web):
    page = pages.page
    # prompt=login: the login page even though this browser is signed in.
    target = Request(pages.base, web, pages.rp + "/callback", prompt="login").url
    page.goto(pages.rp + "/frame?" + urllib.parse.urlencode({"src": target}))
    page.wait_for_timeout(1000)
    framed = [f for f in page.frames if f != page.main_frame]
    rendered = any(f.url.startswith(pages.base) and f.locator("#password").count() > 0 for f in framed)
    check("Chromium refuses to show the login page inside another site's frame", framed and not rendered,
          [f.url for f in framed])


def phone(browser, pages, web, shots):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.goto(Request(pages.base, web, pages.rp + "/callback").url)
    width = page.evaluate("document.documentElement.scrollWidth")
    check("the login page fits a 390 px wide phone (no sideways scrolling)", width <= 390, width)
    box = page.locator("#password").bounding_box()
    check("the password field is within the phone's screen", box is not None and box["x"] >= 0
          and box["x"] + box["width"] <= 390, box)
    path = os.path.join(shots, "login-phone.png")
    page.screenshot(path=path, full_page=True)
    check("screenshot login-phone.png saved", os.path.getsize(path) > 0, path)
    context.close()
