"""The pytest plugin in fresh projects (pytester); GridyMock's answers and checks."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import gridy_async.testing
from gridy_async import (
    AccountBlockedError,
    BaseURL,
    ChallengeAccepted,
    ChallengeCancelled,
    ChallengeState,
    ChallengeVerified,
    GridyClient,
    InvalidResponseError,
    OutcomeUnknownError,
    RateLimitedError,
    ServerTime,
    UnknownCodeError,
    WireDialect,
    WrongAuthCodeError,
    authorization_header,
    signature,
)
from gridy_async.testing import GridyMock, MockRequest
from gridy_async.testing._mock import OPERATIONS, QR_PNG

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
USER = "ann@example.com"
# Blocks the entry point by name, so the module is never registered twice
# once the installed distribution declares it.
PLUGIN_ARGS = ("-p", "no:gridy_async", "-p", "gridy_async.testing._plugin")
ENTRY_POINT = ("gridy_async", "gridy_async.testing._plugin")


def configure(pytester: pytest.Pytester, mode: str = "auto") -> None:
    """Write a pytest config like a careful project's: warnings are errors.

    The one exception: once this run has loaded the plugin through its entry
    point, an in-process run cannot rewrite its asserts again, and says so.
    """
    pytester.makeini(
        f"""
        [pytest]
        asyncio_mode = {mode}
        asyncio_default_fixture_loop_scope = function
        filterwarnings =
            error
            ignore:Module already imported:pytest.PytestAssertRewriteWarning
        """
    )


def run(
    pytester: pytest.Pytester,
    *args: str,
    plugin: tuple[str, ...] = PLUGIN_ARGS,
    subprocess: bool = False,
) -> pytest.RunResult:
    """Run pytest on the fresh project with the plugin loaded by hand.

    In this process by default, so coverage sees the plugin; in a subprocess
    when the run must start from a clean interpreter.
    """
    options = ("-p", "no:cacheprovider", *plugin, *args)
    if subprocess:
        return pytester.runpytest_subprocess(*options, timeout=60)
    return pytester.runpytest_inprocess(*options)


# --- The fixtures, in a fresh project --------------------------------------


def test_sandbox_fixtures_send_a_challenge_end_to_end(
    pytester: pytest.Pytester,
) -> None:
    """gridy_client reaches gridy_sandbox over loopback; each test gets a new one."""
    configure(pytester)
    pytester.makepyfile(
        """
        async def test_send(gridy_sandbox, gridy_client):
            accepted = await gridy_client.send_challenge("ann@example.com")

            pushed = gridy_sandbox.assert_one_push("ann@example.com")
            assert pushed.challenge_id == accepted.challenge_id
            assert accepted.qr_code_png.startswith(b"\\x89PNG")
            assert gridy_client.base_url == gridy_sandbox.url
            assert gridy_sandbox.url.startswith("http://127.0.0.1:")

        async def test_fresh(gridy_sandbox):
            assert gridy_sandbox.challenges == {}
        """
    )

    result = run(pytester)

    result.assert_outcomes(passed=2)


def test_fixtures_work_in_strict_mode(pytester: pytest.Pytester) -> None:
    """The async fixtures need no asyncio_mode=auto: pytest-asyncio's default works."""
    configure(pytester, mode="strict")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_time(gridy_client):
            assert (await gridy_client.server_time()).utctime > 0
        """
    )

    result = run(pytester)

    result.assert_outcomes(passed=1)


def test_sandbox_options_can_be_overridden(pytester: pytest.Pytester) -> None:
    """Overriding gridy_sandbox_options passes a FakeClock and a rate limit."""
    configure(pytester)
    pytester.makepyfile(
        """
        import pytest
        from gridy_async import ChallengeExpiredError, RateLimitedError
        from gridy_async.testing import FakeClock

        @pytest.fixture
        def clock():
            return FakeClock()

        @pytest.fixture
        def gridy_sandbox_options(clock):
            return {"clock": clock, "rate_limit": 2}

        async def test_clock_and_limit(gridy_client, clock):
            accepted = await gridy_client.send_challenge(
                "ann@example.com", expiry="ThreeMins"
            )
            await gridy_client.send_challenge("bob@example.com")
            with pytest.raises(RateLimitedError):
                await gridy_client.send_challenge("cy@example.com")

            clock.advance(180)
            with pytest.raises(ChallengeExpiredError):
                await gridy_client.challenge_status(
                    accepted.challenge_id, "ann@example.com"
                )
        """
    )

    result = run(pytester)

    result.assert_outcomes(passed=1)


def test_mock_replies_raise_the_registered_classes(pytester: pytest.Pytester) -> None:
    """Every error code programmed into gridy_mock raises its registry class."""
    configure(pytester)
    pytester.makepyfile(
        """
        import pytest
        from gridy_async import ChallengeAccepted, all_codes, lookup_code

        ERRORS = [info.code for info in all_codes() if info.is_error]

        async def test_success(gridy_mock):
            gridy_mock.reply("send_challenge", 2025, challenge_id="ch-1")
            async with gridy_mock.client() as gridy:
                accepted = await gridy.send_challenge("ann@example.com")
            assert isinstance(accepted, ChallengeAccepted)
            assert accepted.challenge_id == "ch-1"

        @pytest.mark.parametrize("code", ERRORS)
        async def test_error(gridy_mock, code):
            gridy_mock.reply("send_challenge", code)
            async with gridy_mock.client() as gridy:
                with pytest.raises(lookup_code(code).outcome) as caught:
                    await gridy.send_challenge("ann@example.com")
            assert type(caught.value) is lookup_code(code).outcome
            assert caught.value.code == code
            assert caught.value.http_status == lookup_code(code).http_status
        """
    )

    result = run(pytester)

    errors = [info for info in gridy_async.all_codes() if info.is_error]
    result.assert_outcomes(passed=1 + len(errors))


def test_mock_fails_a_test_signed_with_the_wrong_secret(
    pytester: pytest.Pytester,
) -> None:
    """A request signed with another secret fails the inner test, once, saying why."""
    configure(pytester)
    pytester.makepyfile(
        """
        from gridy_async import GridyClient

        async def test_wrong_secret(gridy_mock):
            gridy_mock.reply("send_challenge")
            async with GridyClient(
                gridy_mock.api_user, "not-the-secret", base_url=gridy_mock.base_url
            ) as gridy:
                await gridy.send_challenge("ann@example.com")
        """
    )

    result = run(pytester)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*AssertionError: gridy_mock: request #1*signed wrong*"]
    )


def test_mock_fails_a_test_that_swallowed_the_error(pytester: pytest.Pytester) -> None:
    """A bad request fails the test at teardown even when the code caught the error."""
    configure(pytester)
    pytester.makepyfile(
        """
        from gridy_async import GridyClient

        async def test_swallowed(gridy_mock):
            gridy_mock.reply("send_challenge")
            gridy = GridyClient("123456789", "wrong", base_url=gridy_mock.base_url)
            try:
                await gridy.send_challenge("ann@example.com")
            except Exception:
                pass  # a web handler turning every error into a 500, say
            finally:
                await gridy.aclose()
        """
    )

    result = run(pytester)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*gridy_mock saw bad requests that the test did not fail on*",
            "*request #1 (send_challenge*signed wrong*",
        ]
    )


def test_mock_fails_a_request_with_no_answer_programmed(
    pytester: pytest.Pytester,
) -> None:
    """A call nobody programmed an answer for fails, naming the reply() to add."""
    configure(pytester)
    pytester.makepyfile(
        """
        async def test_unprogrammed(gridy_mock):
            async with gridy_mock.client() as gridy:
                await gridy.cancel_challenge("ch-1", "ann@example.com")
        """
    )

    result = run(pytester)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*no answer is programmed for cancel_challenge*reply('cancel_challenge'*"]
    )


def docs_recipe() -> dict[str, str]:
    """The session-scoped recipe's files, exactly as docs/testing.md shows them."""
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    section = text.split("## A sandbox for the whole session", 1)[1]
    blocks = re.findall(r"```python\n(# (\S+)\.py\n.*?)```", section, re.S)
    return {name: code for code, name in blocks}


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_the_documented_session_recipe_shares_one_sandbox(
    pytester: pytest.Pytester, mode: str
) -> None:
    """The docs' session recipe works as written: test two sees test one's push."""
    recipe = docs_recipe()
    assert set(recipe) == {"conftest", "test_shared_sandbox"}
    configure(pytester, mode=mode)
    pytester.makeconftest(recipe["conftest"])
    pytester.makepyfile(test_shared_sandbox=recipe["test_shared_sandbox"])

    result = run(pytester, "-v")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_first_sends PASSED*", "*test_second_sees_it PASSED*"]
    )


def test_a_loop_scope_mismatch_fails_at_once(pytester: pytest.Pytester) -> None:
    """A session-loop test using gridy_client is stopped with advice, not hung."""
    configure(pytester)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio(loop_scope="session")
        async def test_other_loop(gridy_client):
            await gridy_client.server_time()
        """
    )

    started = time.monotonic()
    result = run(pytester)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*runs in the function-scoped event loop but this test runs in the session*"]
    )
    assert time.monotonic() - started < 20  # the client's 30 s timeout never ran


def test_loop_scopes_set_to_session_make_gridy_sandbox_work_there(
    pytester: pytest.Pytester,
) -> None:
    """With both default loop scopes at session, gridy_client works in session tests."""
    configure(pytester)
    pytester.makepyfile(
        """
        async def test_one(gridy_client, gridy_sandbox):
            await gridy_client.send_challenge("ann@example.com")
            gridy_sandbox.assert_one_push("ann@example.com")

        async def test_two(gridy_sandbox):
            assert gridy_sandbox.challenges == {}
        """
    )

    result = run(
        pytester,
        "-o",
        "asyncio_default_fixture_loop_scope=session",
        "-o",
        "asyncio_default_test_loop_scope=session",
    )

    result.assert_outcomes(passed=2)


def test_without_pytest_asyncio_only_the_async_fixtures_fail(
    pytester: pytest.Pytester,
) -> None:
    """Without pytest-asyncio the plugin loads; its async fixtures say what to do."""
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    # Imported before the plugin, this makes `import pytest_asyncio` fail.
    pytester.makepyfile(blocker="import sys\nsys.modules['pytest_asyncio'] = None\n")
    pytester.makepyfile(
        test_plain="""
        def test_needs_sandbox(gridy_sandbox):
            pass

        def test_mock_is_sync(gridy_mock):
            assert gridy_mock.started

        def test_unrelated():
            pass
        """
    )

    result = run(
        pytester,
        plugin=("-p", "no:asyncio", "-p", "blocker", *PLUGIN_ARGS),
        subprocess=True,
    )

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*gridy_sandbox fixture is async and needs pytest-asyncio"
            "*pip install 'gridy_async[[]test]'*"
        ]
    )


def installed_entry_points() -> list[importlib.metadata.EntryPoint]:
    """The installed gridy_async distribution's pytest11 entry points."""
    dist = importlib.metadata.distribution("gridy_async")
    return [ep for ep in dist.entry_points if ep.group == "pytest11"]


def skip_unless_entry_point_installed() -> None:
    """Skip, saying what to do, while the metadata does not list the plugin."""
    if installed_entry_points():
        return
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if "[project.entry-points.pytest11]" in pyproject:
        pytest.skip(
            "pyproject.toml declares the pytest11 entry point but the installed "
            "metadata does not list it yet: reinstall (pip install -e '.[test]')"
        )
    pytest.skip(
        "pyproject.toml declares no pytest11 entry point yet: add "
        '[project.entry-points.pytest11] gridy_async = "gridy_async.testing._plugin"'
    )


def test_the_installed_distribution_declares_the_plugin() -> None:
    """The pytest11 entry point names this plugin module, under gridy_async."""
    skip_unless_entry_point_installed()

    entry_points = installed_entry_points()

    assert [(ep.name, ep.value) for ep in entry_points] == [ENTRY_POINT]
    assert entry_points[0].load() is sys.modules["gridy_async.testing._plugin"]


def test_the_entry_point_alone_provides_the_fixtures(pytester: pytest.Pytester) -> None:
    """With no -p option, installing gridy_async is enough to get the fixtures."""
    skip_unless_entry_point_installed()
    configure(pytester)
    pytester.makepyfile(
        """
        async def test_send(gridy_client, gridy_sandbox, gridy_mock):
            await gridy_client.send_challenge("ann@example.com")
            gridy_sandbox.assert_one_push("ann@example.com")
        """
    )

    result = run(pytester, plugin=(), subprocess=True)

    result.assert_outcomes(passed=1)


# --- GridyMock in this process ----------------------------------------------


@pytest.fixture
def mock() -> Iterator[GridyMock]:
    """A started mock; problems are left for each test to assert on."""
    gridy_mock = GridyMock()
    gridy_mock.start()
    yield gridy_mock
    gridy_mock.stop()


@pytest.fixture
async def gridy(mock: GridyMock) -> AsyncIterator[GridyClient]:
    """A client signing as the mock expects."""
    async with mock.client() as client:
        yield client


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A bare aiohttp session, for requests the client would never send."""
    async with aiohttp.ClientSession() as session:
        yield session


def signed(mock: GridyMock, **changes: str | None) -> dict[str, str]:
    """Correct signature headers for the mock, with ``changes`` (None drops one)."""
    utctime = str(int(time.time() * 1000))
    cnonce = str(uuid.uuid4())
    mac = signature(mock.api_secret, utctime, cnonce)
    headers: dict[str, str | None] = {
        "Authorization": authorization_header(mock.api_user, mac),
        "x-gridy-apiuser": mock.api_user,
        "x-gridy-utctime": utctime,
        "x-gridy-cnonce": cnonce,
    }
    headers.update(changes)
    return {name: value for name, value in headers.items() if value is not None}


async def post_raw(
    http: aiohttp.ClientSession, mock: GridyMock, headers: dict[str, str]
) -> None:
    """POST a minimal send envelope with ``headers`` to the mocked endpoint."""
    body = b'{"type":150,"body":{"gridyUser":"ann@example.com"}}'
    url = mock.base_url + "/v1/svc/challenge"
    async with http.post(url, headers=headers, data=body) as response:
        await response.read()


async def test_every_operation_gets_its_success_result(
    mock: GridyMock, gridy: GridyClient
) -> None:
    """Default replies are each operation's success code, read into its result."""
    for operation in OPERATIONS:
        mock.reply(operation)

    accepted = await gridy.send_challenge(USER)
    cancelled = await gridy.cancel_challenge(accepted.challenge_id, USER)
    verified = await gridy.verify_challenge(accepted.challenge_id, USER, "123456")
    status = await gridy.challenge_status(accepted.challenge_id, USER)
    blocked = await gridy.check_blocked(USER, "203.0.113.9")
    now = await gridy.server_time()

    assert isinstance(accepted, ChallengeAccepted)
    assert accepted.qr_code_png == QR_PNG
    assert accepted.qr_code_url == f"{BaseURL.LIVE}/qr/{accepted.challenge_id}.png"
    assert isinstance(cancelled, ChallengeCancelled)
    assert cancelled.status == "CANCELLED"
    assert isinstance(verified, ChallengeVerified)
    assert status.state is ChallengeState.VERIFIED
    assert (blocked.ip_address, blocked.blocked) == ("203.0.113.9", False)
    assert isinstance(now, ServerTime)
    assert abs(now.utctime - time.time() * 1000) < 2000
    assert [r.operation for r in mock.requests] == [
        "send_challenge",
        "cancel_challenge",
        "verify_challenge",
        "challenge_status",
        "check_blocked",
        "server_time",
    ]
    assert mock.problems == []


async def test_status_204_is_pending(mock: GridyMock, gridy: GridyClient) -> None:
    """challenge_status answered 204 is a pending challenge, with no body."""
    mock.reply("challenge_status", 204)

    status = await gridy.challenge_status("ch-1", USER)

    assert status.state is ChallengeState.PENDING
    assert mock.requests[0].http_status == 204
    assert mock.requests[0].answer is None


async def test_2025_carries_a_png_only_when_asked(
    mock: GridyMock, gridy: GridyClient
) -> None:
    """The QR data URL comes back unless the request turned it off."""
    mock.reply("send_challenge", times=2)

    with_png = await gridy.send_challenge(USER)
    without = await gridy.send_challenge(USER, enable_qr_code=False)

    assert with_png.qr_code_png == QR_PNG
    assert without.qr_code_png is None
    assert without.qr_code_url is not None
    assert with_png.challenge_id != without.challenge_id


async def test_answers_follow_the_requests_dialect(mock: GridyMock) -> None:
    """An SDK-dialect request gets utcTime and moreInfo back, and its body decodes."""
    mock.reply("send_challenge")

    async with mock.client(dialect=WireDialect.SDK) as gridy:
        await gridy.send_challenge(USER, ref="order-1")

    request = mock.requests[0]
    assert request.answer is not None
    assert {"utcTime", "moreInfo"} <= set(request.answer)
    assert request.envelope is not None
    assert isinstance(request.envelope["body"], str)
    assert request.json["gridyUser"] == USER
    assert request.user == USER


async def test_error_answers_carry_the_registry_status_and_text(
    mock: GridyMock, gridy: GridyClient
) -> None:
    """An error code travels with its registry status and Gridy's style of text."""
    mock.reply("send_challenge", -2004)

    with pytest.raises(AccountBlockedError) as caught:
        await gridy.send_challenge(USER)

    assert caught.value.http_status == 400
    assert caught.value.server_message == "BAD REQUEST :- ACCOUNT BLOCKED"
    assert caught.value.more_info == "https://support.gridy.io/error?code=-2004"


async def test_message_and_status_can_be_replaced(
    mock: GridyMock, gridy: GridyClient
) -> None:
    """message= and http_status= override what the registry would give."""
    mock.reply("verify_challenge", -3087, message="nope", http_status=401)

    with pytest.raises(WrongAuthCodeError) as caught:
        await gridy.verify_challenge("ch-1", USER, "000000")

    assert caught.value.http_status == 401
    assert caught.value.server_message == "nope"


async def test_rate_limit_reply_sets_retry_after(
    mock: GridyMock, gridy: GridyClient
) -> None:
    """429 works as a code for any operation, with an optional Retry-After."""
    mock.reply("server_time", 429, retry_after=7)

    with pytest.raises(RateLimitedError) as caught:
        await gridy.server_time()

    assert caught.value.retry_after == 7


async def test_unknown_codes_travel_with_a_default_status(
    mock: GridyMock, gridy: GridyClient
) -> None:
    """A code the registry lacks is sent with HTTP 400 and raises UnknownCodeError."""
    mock.reply("send_challenge", -9999)

    with pytest.raises(UnknownCodeError) as caught:
        await gridy.send_challenge(USER)

    assert caught.value.http_status == 400
    assert caught.value.code == -9999


async def test_raw_answers_are_sent_as_given(
    mock: GridyMock, gridy: GridyClient
) -> None:
    """raw= sends exact bytes: a gateway's HTML page leaves a send's outcome unknown."""
    mock.reply("send_challenge", raw=b"<html>502</html>", http_status=502)
    mock.reply("cancel_challenge", raw=b"<html>502</html>", http_status=502)

    with pytest.raises(OutcomeUnknownError):
        await gridy.send_challenge(USER)
    with pytest.raises(InvalidResponseError) as caught:
        await gridy.cancel_challenge("ch-1", USER)

    assert caught.value.http_status == 502


async def test_fail_raises_inside_aiohttp(mock: GridyMock, gridy: GridyClient) -> None:
    """fail() makes aiohttp raise, after the request was checked and recorded."""
    mock.fail("send_challenge", aiohttp.ServerDisconnectedError())

    with pytest.raises(OutcomeUnknownError):
        await gridy.send_challenge(USER)

    assert len(mock.requests_to("send_challenge")) == 1
    assert mock.requests[0].http_status is None
    assert mock.problems == []


async def test_replies_are_given_in_order_and_counted(
    mock: GridyMock, gridy: GridyClient
) -> None:
    """Replies queue per operation; times= repeats one, None repeats it forever."""
    mock.reply("server_time", 429, times=2)
    mock.reply("server_time", times=None)
    mock.reply("send_challenge")

    for _ in range(2):
        with pytest.raises(RateLimitedError):
            await gridy.server_time()
    for _ in range(3):
        await gridy.server_time()

    with pytest.raises(AssertionError, match=r"never given: send_challenge \(1\)"):
        mock.assert_all_used()
    await gridy.send_challenge(USER)
    mock.assert_all_used()


async def test_any_base_url_can_be_mocked() -> None:
    """base_url=None answers any host and path prefix, such as the SDKs' /prod."""
    with GridyMock(base_url=None) as any_host:
        any_host.reply("send_challenge")
        async with GridyClient(
            any_host.api_user, any_host.api_secret, base_url=BaseURL.SDK_LIVE
        ) as gridy:
            await gridy.send_challenge(USER)

    assert any_host.requests[0].url == BaseURL.SDK_LIVE + "/v1/svc/challenge"
    assert any_host.base_url == BaseURL.LIVE


async def test_inspection_helpers(mock: GridyMock, gridy: GridyClient) -> None:
    """requests_to, bodies and assert_one_push read what the client sent."""
    mock.reply("send_challenge", times=3)
    await gridy.send_challenge(USER, ip_address="203.0.113.9")
    await gridy.send_challenge("bob@example.com")
    await gridy.send_challenge("bob@example.com")

    bodies = mock.bodies("send_challenge")
    pushed = mock.assert_one_push(USER.upper())

    assert [b["gridyUser"] for b in bodies] == [
        USER,
        "bob@example.com",
        "bob@example.com",
    ]
    assert bodies[0]["ipAddress"] == "203.0.113.9"
    assert pushed is mock.requests_to("send_challenge")[0]
    assert pushed.headers["X-GRIDY-APIUSER"] == mock.api_user
    with pytest.raises(AssertionError, match="found 2"):
        mock.assert_one_push("bob@example.com")
    assert mock.requests_to("server_time") == []


async def test_a_sandbox_works_beside_the_mock(
    mock: GridyMock, gridy: GridyClient, client: GridyClient
) -> None:
    """Loopback requests pass through the mock: the sandbox answers them itself."""
    mock.reply("send_challenge", -2004)

    accepted = await client.send_challenge(USER)
    with pytest.raises(AccountBlockedError):
        await gridy.send_challenge(USER)

    assert accepted.challenge_id
    assert [r.operation for r in mock.requests] == ["send_challenge"]


async def test_a_loopback_base_url_is_mocked_not_passed_through() -> None:
    """A mock whose base URL is on loopback answers it rather than letting it by."""
    with GridyMock(base_url="http://127.0.0.1:9") as local:
        local.reply("server_time")
        async with local.client() as gridy:
            await gridy.server_time()

    assert local.requests[0].url == "http://127.0.0.1:9/v1/svc/time"


def test_reprs_show_no_secret_or_signature() -> None:
    """Neither the mock's nor a request's repr shows the secret or the signature."""
    gridy_mock = GridyMock(api_secret="CANARY-s3cr3t")
    request = MockRequest(
        "send_challenge",
        "POST",
        "https://api.gridy.io/v1/svc/challenge",
        {"Authorization": "gridy-hmac: signature=CANARY-sig"},
        b"{}",
    )

    assert "CANARY" not in repr(gridy_mock)
    assert "CANARY" not in repr(request)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"Authorization": None}, "unsigned: no Authorization header"),
        ({"x-gridy-cnonce": None}, "x-gridy-utctime and x-gridy-cnonce must both"),
        ({"x-gridy-utctime": "1734732919817.0"}, "must be epoch milliseconds"),
        ({"x-gridy-cnonce": "8dcb623a-b56e-4534-838b-5e9e"}, "lower-case UUID4"),
        ({"x-gridy-apiuser": "987654321"}, "x-gridy-apiuser is not"),
        (
            # The vendor's Dart SDK leaves out the "gridy-hmac: " wrapper.
            {"Authorization": "apiuser=123456789,signedheaders=x"},
            "is not 'gridy-hmac: apiuser=",
        ),
        (
            {
                "Authorization": authorization_header("987654321", "0" * 128),
            },
            "Authorization apiuser is not",
        ),
        (
            # The vendor's Python SDK signs with SHA-256.
            {"Authorization": authorization_header("123456789", "a" * 64)},
            "got 64 characters",
        ),
        (
            {"Authorization": authorization_header("123456789", "a" * 128)},
            "signed wrong",
        ),
    ],
)
async def test_bad_signatures_are_caught(
    mock: GridyMock,
    http: aiohttp.ClientSession,
    changes: dict[str, str | None],
    reason: str,
) -> None:
    """Each way a request can be unsigned or signed wrong fails with its reason."""
    mock.reply("send_challenge")

    with pytest.raises(AssertionError, match=re.escape(reason)):
        await post_raw(http, mock, signed(mock, **changes))

    assert len(mock.problems) == 1
    assert mock.requests[0].problem == mock.problems[0]
    with pytest.raises(AssertionError, match="saw 1 bad request"):
        mock.check()


async def test_extra_spaces_in_authorization_are_caught(
    mock: GridyMock, http: aiohttp.ClientSession
) -> None:
    """A space after a comma is not Gridy's format, even with the right signature."""
    headers = signed(mock)
    headers["Authorization"] = headers["Authorization"].replace(",", ", ")

    with pytest.raises(AssertionError, match="is not 'gridy-hmac"):
        await post_raw(http, mock, headers)


async def test_replayed_nonces_and_timestamps_are_caught(
    mock: GridyMock, http: aiohttp.ClientSession
) -> None:
    """A nonce or a timestamp seen before fails, as Gridy's -4034 and -4035 would."""
    mock.reply("send_challenge", times=None)
    first = signed(mock)
    await post_raw(http, mock, first)

    with pytest.raises(AssertionError, match="nonce reused"):
        await post_raw(http, mock, first)

    utctime = first["x-gridy-utctime"]
    cnonce = str(uuid.uuid4())
    mac = signature(mock.api_secret, utctime, cnonce)
    again = signed(
        mock,
        **{
            "x-gridy-cnonce": cnonce,
            "x-gridy-utctime": utctime,
            "Authorization": authorization_header(mock.api_user, mac),
        },
    )
    with pytest.raises(AssertionError, match="timestamp reused"):
        await post_raw(http, mock, again)


async def test_envelope_api_user_must_match(
    mock: GridyMock, http: aiohttp.ClientSession
) -> None:
    """An envelope naming another apiUser than the signature's fails."""
    url = mock.base_url + "/v1/svc/challenge"
    body = b'{"apiUser":"987654321","type":150,"body":{}}'

    with pytest.raises(AssertionError, match="envelope's apiUser"):
        async with http.post(url, headers=signed(mock), data=body):
            pass


async def test_leaving_the_block_raises_if_a_request_was_bad() -> None:
    """Used as a context manager, the mock raises on exit for a swallowed problem."""
    gridy_mock = GridyMock()
    gridy_mock.reply("send_challenge")
    with pytest.raises(AssertionError, match="signed wrong"), gridy_mock:  # noqa: PT012
        async with GridyClient(
            gridy_mock.api_user, "wrong", base_url=gridy_mock.base_url
        ) as gridy:
            with contextlib.suppress(AssertionError):
                await gridy.send_challenge(USER)

    assert not gridy_mock.started


def test_starting_needs_aioresponses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without aioresponses, start() says which extra to install."""
    monkeypatch.setitem(sys.modules, "aioresponses", None)

    with pytest.raises(ImportError, match=re.escape("pip install 'gridy_async[test]'")):
        GridyMock().start()


def test_starting_twice_is_refused(mock: GridyMock) -> None:
    """A started mock cannot be started again."""
    with pytest.raises(RuntimeError, match="already started"):
        mock.start()


@pytest.mark.parametrize(
    ("operation", "code", "kwargs", "message"),
    [
        ("send", None, {}, "unknown operation 'send'"),
        ("send_challenge", 204, {}, "only answers challenge_status"),
        ("send_challenge", None, {"times": 0}, "times must be at least 1"),
    ],
)
def test_bad_replies_are_refused(
    operation: str, code: int | None, kwargs: dict[str, Any], message: str
) -> None:
    """reply() refuses unknown operations, 204 outside status, and times below 1."""
    with pytest.raises(ValueError, match=re.escape(message)):
        GridyMock().reply(operation, code, **kwargs)


def test_the_testing_package_exports_the_mock() -> None:
    """GridyMock and MockRequest are public, documented names of gridy_async.testing."""
    for name in ("GridyMock", "MockRequest"):
        assert name in gridy_async.testing.__all__
        assert (getattr(gridy_async.testing, name).__doc__ or "").strip()


async def test_mock_answers_concurrent_calls(
    mock: GridyMock, gridy: GridyClient
) -> None:
    """Many concurrent calls are each checked and answered once."""
    mock.reply("send_challenge", times=20)

    results = await asyncio.gather(
        *(gridy.send_challenge(f"user{i}@example.com") for i in range(20))
    )

    assert len({r.challenge_id for r in results}) == 20
    assert mock.problems == []
