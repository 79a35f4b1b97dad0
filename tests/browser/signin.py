"""Browser sign-in: Playwright drives Debian's Chromium through Warden's hosted pages.

A person signs in (a wrong password first, then the right one typed with the keyboard),
allows a third-party client on the consent page and lands back at the client with a code;
signs into a second client without typing the password again (SSO); is refused with an
error page for an unregistered redirect URI; signs out through the logout confirmation page
(once with nowhere to return, once returning to the client) and meets the login page again.
The login page is also shown on a phone-sized screen, and framed by another site (refused).
Then TOTP (RFC 6238, codes from pyotp): a user who enrolled through the API signs in with
the second-factor page (a wrong code first, refused), another browser with a recovery code;
and a member of an account that requires a second factor meets the setup page after the
password (an inline SVG QR code and the key), enters the app's first code, sees the recovery
codes and continues to the client. The ID token's amr says which factor signed in.
A screenshot of each page goes into the directory given as the second argument.

The relying party is a tiny HTTP server here on a free loopback port: Chromium refuses to
open the discard port 9 (ERR_UNSAFE_PORT) and a route handler does not see a redirect's
next hop, so the callback must really answer. Starts its own Warden (the binary path is the
first argument) on a free port with a throw-away SQLite store. Prints "N passed, N failed".

Usage: python tests/browser/signin.py <warden-binary> <screenshot-dir> (tests/browser/run.sh
sets it up). The helpers are in signin_support.py, the groups of checks in hosted_pages.py
and totp_flow.py; this script runs them.
"""

import os
import sys

from hosted_pages import consent, error_page, framing, login_page, phone, sign_out, sso
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright
from signin_support import (
    ADMIN,
    CHROMIUM,
    PASSWORD,
    Pages,
    call,
    check,
    register,
    results,
    start,
    start_relying_party,
)
from totp_flow import account_policy, enrolled_user, recovery_code, second_factor


def step(pages, name, fn, *args):
    """Runs one group of checks; a crash is one failure (with a screenshot of where it stood)
    and the next group still runs."""
    if any(arg is None for arg in args):
        check(f"{name}: ran", False, "skipped: the step it builds on crashed")
        return None
    try:
        return fn(*args)
    except Exception as err:  # noqa: BLE001 - one failed step, the next still runs
        check(f"{name}: ran to the end", False, repr(err))
        try:
            pages.page.screenshot(path=os.path.join(pages.shots, f"failed-{name.replace(' ', '-')}.png"))
        except PlaywrightError:
            pass
        return None


def run(base, shots, playwright):
    rp_server, rp = start_relying_party()
    try:
        status, grant = call(base + "/oauth/token", form={"grant_type": "password", "client_id": "warden",
                                                         "username": ADMIN, "password": PASSWORD})
        admin = grant.get("access_token")
        check("the administrator gets a token", status == 200 and admin, f"{status} {grant}")
        web = register(base, admin, "Playwright Web App", rp)
        portal = register(base, admin, "Playwright Portal", rp, first_party=True)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(15000)
            pages = Pages(base, rp, shots, context.new_page())
            request = step(pages, "login page", login_page, pages, web)
            step(pages, "consent", consent, pages, web, request)
            step(pages, "SSO", sso, pages, portal)
            step(pages, "error page", error_page, pages, web)
            step(pages, "framing", framing, pages, web)
            step(pages, "sign out", sign_out, pages, web)
            step(pages, "phone", phone, browser, pages, web, shots)

            enrolled = step(pages, "TOTP enrolment", enrolled_user, base, admin)
            email, totp, codes = enrolled or (None, None, None)
            for name, fn, args in [("TOTP sign-in", second_factor, (web, email, totp)),
                                   ("TOTP recovery code", recovery_code, (web, email, codes)),
                                   ("TOTP account policy", account_policy, (admin, web))]:
                # Each in a browser of its own: no session carries over.
                own = browser.new_context(viewport={"width": 1280, "height": 800})
                own.set_default_timeout(15000)
                own_pages = Pages(base, rp, shots, own.new_page(), problems=pages.problems)
                step(own_pages, name, fn, own_pages, *args)
                own.close()
            check("the hosted pages raised no CSP violation or script error", not pages.problems, pages.problems)
        finally:
            browser.close()
    finally:
        rp_server.shutdown()


def main():
    binary, shots = sys.argv[1], sys.argv[2]
    os.makedirs(shots, exist_ok=True)
    process, base = start(binary)
    try:
        with sync_playwright() as playwright:
            run(base, shots, playwright)
    except Exception as err:  # noqa: BLE001 - a crash is one more failure, not a silent stop
        check("the browser checks ran to the end", False, repr(err))
    finally:
        process.terminate()
        process.wait(timeout=10)
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
