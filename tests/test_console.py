"""The sandbox console answers pushes by hand, over HTTP and in a real browser."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING

import aiohttp
import pytest

from gridy_async import (
    ChallengeExpiry,
    ChallengeRejectedError,
    ChallengeState,
    ChallengeType,
    GridyClient,
)
from gridy_async.testing import ChallengeFate, FakeClock, GridySandbox
from gridy_async.testing._console import add_console_routes
from gridy_async.testing._world import SandboxChallenge

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

USER = "ann@example.com"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT = "/tmp/console.png"
# The flags Chromium needs on a machine with no screen and a closed network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,800",
)


def with_console(sandbox: GridySandbox) -> GridySandbox:
    """``sandbox`` with the console routes, unless its app already has them."""
    if "console" not in sandbox.app.router.named_resources():
        add_console_routes(sandbox.app, sandbox)
    return sandbox


@pytest.fixture
async def console() -> AsyncIterator[GridySandbox]:
    """A running sandbox that serves the console."""
    async with with_console(GridySandbox()) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A bare session that does not follow redirects on its own."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def gridy(console: GridySandbox) -> AsyncIterator[GridyClient]:
    """A client signed in to the console's sandbox."""
    async with console.client() as client:
        yield client


async def get_page(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """GET ``url``; return the status and the body text."""
    async with http.get(url) as response:
        return response.status, await response.text()


async def press(
    http: aiohttp.ClientSession, sandbox: GridySandbox, path: str, **headers: str
) -> aiohttp.ClientResponse:
    """POST a console button form to ``path`` without following the redirect."""
    async with http.post(
        sandbox.url + path, headers=headers, allow_redirects=False
    ) as response:
        await response.read()
        return response


def planted(sandbox: GridySandbox, user: str, ref: str | None = None) -> str:
    """Put a challenge in the sandbox directly, bypassing the client's checks."""
    challenge = SandboxChallenge(
        challenge_id=str(uuid.uuid4()),
        user=user,
        challenge_type=ChallengeType.USER_KEY_AND_PATTERN,
        expiry=ChallengeExpiry.FIFTEEN_MINS,
        created_at=sandbox.clock(),
        ref=ref,
    )
    sandbox.challenges[challenge.challenge_id] = challenge
    return challenge.challenge_id


# --- The page over HTTP ---------------------------------------------------


async def test_empty_console_says_so(
    console: GridySandbox, http: aiohttp.ClientSession
) -> None:
    """With no challenges the page loads and says there are none."""
    status, page = await get_page(http, console.url + "/console")

    assert status == 200
    assert "No challenges yet." in page


async def test_page_is_html_that_loads_nothing_foreign(
    console: GridySandbox, http: aiohttp.ClientSession
) -> None:
    """The page is UTF-8 HTML, never cached, with a CSP that allows only itself."""
    async with http.get(console.url + "/console") as response:
        assert response.content_type == "text/html"
        assert response.charset == "utf-8"
        assert response.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_listing_shows_each_challenge_newest_first(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """Each row shows user, type, state, QR image and buttons; newest first."""
    first = await gridy.send_challenge(USER, ref="first")
    second = await gridy.send_challenge(
        "bob@example.com", challenge_type="UserKeyAndUserPin", ref="second"
    )

    status, page = await get_page(http, console.url + "/console")

    assert status == 200
    assert page.index(second.challenge_id) < page.index(first.challenge_id)
    assert "bob@example.com" in page
    assert "UserKeyAndUserPin" in page
    assert f'<img src="/qr/{first.challenge_id}.png"' in page
    assert f'action="/console/challenges/{first.challenge_id}/approve"' in page
    assert f'action="/console/challenges/{first.challenge_id}/reject"' in page
    assert page.count('data-state="PENDING"') == 2


async def test_qr_image_the_page_links_is_served(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """The QR image a row points at is a PNG the sandbox serves."""
    accepted = await gridy.send_challenge(USER)

    async with http.get(f"{console.url}/qr/{accepted.challenge_id}.png") as response:
        assert response.status == 200
        assert (await response.read()).startswith(b"\x89PNG")


async def test_newest_first_even_when_the_clock_stands_still() -> None:
    """On a FakeClock, challenges sent in the same instant list the later first."""
    sandbox = with_console(GridySandbox(clock=FakeClock()))
    older = planted(sandbox, "old@example.com")
    newer = planted(sandbox, "new@example.com")

    async with sandbox, aiohttp.ClientSession() as http:
        _, page = await get_page(http, sandbox.url + "/console")

    assert page.index(newer) < page.index(older)


async def test_hostile_user_and_ref_are_escaped(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """Markup in a user or ref reaches the page as text, never as markup."""
    hostile_ref = '"><script>alert(1)</script>'[:25]
    await gridy.send_challenge(USER, ref=hostile_ref)
    planted(console, "<img src=x onerror=alert(2)>@example.com", ref="<b>bold</b>")

    _, page = await get_page(http, console.url + "/console")

    assert "<script>" not in page
    assert "<img src=x" not in page
    assert "<b>bold</b>" not in page
    assert "&quot;&gt;&lt;script&gt;alert(1)" in page
    assert "&lt;img src=x onerror=alert(2)&gt;@example.com" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


async def test_refresh_parameter_sets_or_drops_the_reload(
    console: GridySandbox, http: aiohttp.ClientSession
) -> None:
    """The page reloads every 5 s by default, at ``?refresh=N``, never at 0."""
    _, default = await get_page(http, console.url + "/console")
    _, slower = await get_page(http, console.url + "/console?refresh=30")
    _, still = await get_page(http, console.url + "/console?refresh=0")

    assert '<meta http-equiv="refresh" content="5">' in default
    assert '<meta http-equiv="refresh" content="30">' in slower
    assert 'http-equiv="refresh"' not in still


@pytest.mark.parametrize("refresh", ["abc", "-1", "1.5", "99999", "²", "9" * 5000])
async def test_bad_refresh_is_400(
    console: GridySandbox, http: aiohttp.ClientSession, refresh: str
) -> None:
    """A refresh that is not 0 to 3600 whole seconds is a 400."""
    status, _ = await get_page(http, f"{console.url}/console?refresh={refresh}")

    assert status == 400


# --- The buttons over HTTP ------------------------------------------------


async def test_approve_button_approves_and_shows_the_auth_code(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """Approve moves the challenge to APPROVED and the page shows its auth code."""
    accepted = await gridy.send_challenge(USER)
    challenge_id = accepted.challenge_id

    response = await press(http, console, f"/console/challenges/{challenge_id}/approve")
    _, page = await get_page(http, console.url + "/console")

    assert response.status == 303
    assert response.headers["Location"] == "/console"
    assert console.fate(challenge_id) is ChallengeFate.APPROVED
    assert f'<span class="code">{console.challenges[challenge_id].auth_code}' in page
    assert "/approve" not in page


async def test_approve_with_auto_verify_reads_verified(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """With auto-verify, Approve makes the status endpoint report VERIFIED."""
    accepted = await gridy.send_challenge(USER, enable_auto_verify=True)

    await press(http, console, f"/console/challenges/{accepted.challenge_id}/approve")
    status = await gridy.challenge_status(accepted.challenge_id, USER)

    assert status.state is ChallengeState.VERIFIED


async def test_reject_button_rejects(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """Reject moves the challenge to REJECTED, which the client then sees."""
    accepted = await gridy.send_challenge(USER)

    response = await press(
        http, console, f"/console/challenges/{accepted.challenge_id}/reject"
    )

    assert response.status == 303
    assert console.fate(accepted.challenge_id) is ChallengeFate.REJECTED
    with pytest.raises(ChallengeRejectedError):
        await gridy.challenge_status(accepted.challenge_id, USER)


async def test_redirect_keeps_the_refresh_the_page_had(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """A button pressed on ``/console?refresh=0`` lands back on that same list."""
    accepted = await gridy.send_challenge(USER)
    referer = console.url + "/console?refresh=0"

    response = await press(
        http,
        console,
        f"/console/challenges/{accepted.challenge_id}/approve",
        Referer=referer,
    )

    assert response.headers["Location"] == "/console?refresh=0"


@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_unknown_challenge_is_404(
    console: GridySandbox, http: aiohttp.ClientSession, action: str
) -> None:
    """A button for a challenge the sandbox never sent is a 404."""
    response = await press(http, console, f"/console/challenges/nope/{action}")

    assert response.status == 404


async def test_unknown_action_is_404(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """Only approve and reject exist under a challenge."""
    accepted = await gridy.send_challenge(USER)

    response = await press(
        http, console, f"/console/challenges/{accepted.challenge_id}/cancel"
    )

    assert response.status == 404
    assert console.fate(accepted.challenge_id) is ChallengeFate.PENDING


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/console/challenges/{id}/approve"),
        ("GET", "/console/challenges/{id}/reject"),
        ("PUT", "/console/challenges/{id}/approve"),
        ("DELETE", "/console/challenges/{id}/reject"),
        ("POST", "/console"),
    ],
)
async def test_wrong_method_is_405_and_changes_nothing(
    console: GridySandbox,
    http: aiohttp.ClientSession,
    gridy: GridyClient,
    method: str,
    path: str,
) -> None:
    """A link followed or a form sent with the wrong method does not answer."""
    accepted = await gridy.send_challenge(USER)
    url = console.url + path.format(id=accepted.challenge_id)

    async with http.request(method, url, allow_redirects=False) as response:
        assert response.status == 405

    assert console.fate(accepted.challenge_id) is ChallengeFate.PENDING


async def test_answered_challenge_cannot_be_answered_again(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """Approving a rejected challenge is a 409 and leaves it rejected."""
    accepted = await gridy.send_challenge(USER)
    console.reject(accepted.challenge_id)

    response = await press(
        http, console, f"/console/challenges/{accepted.challenge_id}/approve"
    )

    assert response.status == 409
    assert console.fate(accepted.challenge_id) is ChallengeFate.REJECTED


async def test_cross_site_post_is_refused(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """A form posted from another origin cannot approve a push."""
    accepted = await gridy.send_challenge(USER)
    path = f"/console/challenges/{accepted.challenge_id}/approve"

    response = await press(http, console, path, Origin="http://evil.example")

    assert response.status == 403
    assert console.fate(accepted.challenge_id) is ChallengeFate.PENDING


async def test_same_origin_post_is_accepted(
    console: GridySandbox, http: aiohttp.ClientSession, gridy: GridyClient
) -> None:
    """A browser's own Origin header, naming the console, passes the check."""
    accepted = await gridy.send_challenge(USER)
    path = f"/console/challenges/{accepted.challenge_id}/approve"

    response = await press(http, console, path, Origin=console.url)

    assert response.status == 303


# --- A real browser -------------------------------------------------------


def missing_browser_parts(chromium: str, chromedriver: str) -> list[str]:
    """What the browser tests need that this machine lacks."""
    missing = []
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium package (pip install -e '.[test]')")
    for path, package in ((chromium, "chromium"), (chromedriver, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            missing.append(f"{path} (apt-get install {package})")
    return missing


def require_browser(missing: list[str], environ: Mapping[str, str]) -> None:
    """Skip when parts are missing locally; fail in CI, which must run them."""
    if not missing:
        return
    reason = "browser test needs " + ", ".join(missing)
    if environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason}; CI is set, so it must run", pytrace=False)
    pytest.skip(reason)


def test_missing_browser_skips_locally() -> None:
    """Without CI set, a missing browser skips the browser tests."""
    missing = missing_browser_parts("/nonexistent/chromium", CHROMEDRIVER)

    with pytest.raises(pytest.skip.Exception, match="/nonexistent/chromium"):
        require_browser(missing, {})


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_missing_browser_fails_in_ci(ci: str) -> None:
    """With CI set, a missing browser fails instead of skipping."""
    missing = missing_browser_parts(CHROMIUM, "/nonexistent/chromedriver")

    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_browser(missing, {"CI": ci})


def test_ci_false_still_skips() -> None:
    """CI=false counts as not in CI."""
    with pytest.raises(pytest.skip.Exception):
        require_browser(["x"], {"CI": "false"})


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Debian Chromium driven by its own chromedriver, no downloads."""
    require_browser(missing_browser_parts(CHROMIUM, CHROMEDRIVER), os.environ)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tmp_path_factory.mktemp("chromium-profile")
    options.add_argument(f"--user-data-dir={profile}")

    # An explicit driver path keeps selenium-manager from fetching one.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


async def open_console(browser: WebDriver, sandbox: GridySandbox) -> None:
    """Load the console, with no auto-reload to race the clicks."""
    # Selenium blocks; off the loop, so the sandbox on this loop can answer.
    await asyncio.to_thread(browser.get, sandbox.url + "/console?refresh=0")


async def click_and_wait(
    browser: WebDriver, challenge_id: str, button: str, state: str
) -> None:
    """Click a row's button and wait for the reloaded row to show ``state``."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    def shows_state(driver: WebDriver) -> bool:
        row = driver.find_element(By.ID, f"c-{challenge_id}")
        return row.get_attribute("data-state") == state

    def click() -> None:
        row = browser.find_element(By.ID, f"c-{challenge_id}")
        row.find_element(By.CSS_SELECTOR, f"button.{button}").click()
        # The old page goes first; only then is the row worth reading.
        # While the new page loads, the row may be missing or stale.
        ignored = (NoSuchElementException, StaleElementReferenceException)
        wait = WebDriverWait(browser, 10, ignored_exceptions=ignored)
        wait.until(expected_conditions.staleness_of(row))
        wait.until(shows_state)

    await asyncio.to_thread(click)


def row_text(browser: WebDriver, challenge_id: str, css: str) -> str:
    """The text of the element matching ``css`` in a challenge's row."""
    from selenium.webdriver.common.by import By

    row = browser.find_element(By.ID, f"c-{challenge_id}")
    return row.find_element(By.CSS_SELECTOR, css).text


def qr_loaded(browser: WebDriver, challenge_id: str) -> bool:
    """Whether the row's QR image loaded and decoded as a picture."""
    script = (
        "const img = document.querySelector(`#c-${arguments[0]} img`);"
        "return img.complete && img.naturalWidth > 0;"
    )
    return bool(browser.execute_script(script, challenge_id))


async def test_browser_approve_with_auto_verify(
    console: GridySandbox, gridy: GridyClient, browser: WebDriver
) -> None:
    """A click on Approve in Chromium makes an auto-verify challenge VERIFIED."""
    accepted = await gridy.send_challenge(USER, enable_auto_verify=True)

    await open_console(browser, console)
    await click_and_wait(browser, accepted.challenge_id, "approve", "VERIFIED")
    status = await gridy.challenge_status(accepted.challenge_id, USER)

    assert status.state is ChallengeState.VERIFIED


async def test_browser_approve_then_verify_with_the_shown_code(
    console: GridySandbox, gridy: GridyClient, browser: WebDriver
) -> None:
    """The auth code Chromium shows after Approve is the one verify accepts."""
    rejected = await gridy.send_challenge("bob@example.com", ref="order-17")
    await gridy.send_challenge("cy@example.com", challenge_type="UserKeyAndUserPin")
    accepted = await gridy.send_challenge(USER, ref="login-42")
    await open_console(browser, console)
    await click_and_wait(browser, rejected.challenge_id, "reject", "REJECTED")

    await click_and_wait(browser, accepted.challenge_id, "approve", "APPROVED")
    code = await asyncio.to_thread(row_text, browser, accepted.challenge_id, ".code")
    loaded = await asyncio.to_thread(qr_loaded, browser, accepted.challenge_id)
    saved = await asyncio.to_thread(browser.save_screenshot, SCREENSHOT)
    verified = await gridy.verify_challenge(accepted.challenge_id, USER, code)

    assert code == console.challenges[accepted.challenge_id].auth_code
    assert loaded
    assert verified.challenge_id == accepted.challenge_id
    assert console.fate(accepted.challenge_id) is ChallengeFate.VERIFIED
    assert saved


async def test_browser_reject_reaches_the_client(
    console: GridySandbox, gridy: GridyClient, browser: WebDriver
) -> None:
    """A click on Reject in Chromium makes the client's status call raise."""
    accepted = await gridy.send_challenge(USER)

    await open_console(browser, console)
    await click_and_wait(browser, accepted.challenge_id, "reject", "REJECTED")

    with pytest.raises(ChallengeRejectedError):
        await gridy.challenge_status(accepted.challenge_id, USER)
