"""GridyClient end to end against aioresponses (and, twice, a loopback server)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import cattrs
import pytest
from aiohttp import web
from aioresponses import aioresponses
from aioresponses.core import RequestCall
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gridy_async import (
    AccountBlockedError,
    AccountDisabledError,
    AccountLockedError,
    AccountStateError,
    ApiError,
    ApiUserError,
    AutoVerifyDisabledError,
    ChallengeAccepted,
    ChallengeCancelled,
    ChallengeCancelledError,
    ChallengeType,
    ClientClosedError,
    ClockDriftError,
    ConfigurationError,
    ConnectError,
    ConnectionLostError,
    DecodeError,
    GridyClient,
    GridyError,
    InternalServerError,
    InvalidEmailError,
    InvalidRequestError,
    InvalidResponseError,
    InvalidSignatureError,
    IPBlockedError,
    NonceReusedError,
    OutcomeUnknownError,
    RateLimitedError,
    RequestHeaderError,
    RequestTimeoutError,
    Stamper,
    TimestampReusedError,
    TransportError,
    UnknownCodeError,
    ValidationError,
    WireDialect,
)
from gridy_async.testing._mock import QR_PNG

API_USER = "123456789"
SECRET = "CANARY-9f8e7d6c5b4a-s3cr3t"
BASE = "https://api.gridy.io"
CHALLENGE_URL = BASE + "/v1/svc/challenge"
T0_MS = 1_734_732_919_817
USER = "ann@example.com"
MASKED_USER = "a***@example.com"
JSON_TYPE = "application/json; charset=utf-8"


PNG = QR_PNG  # a hand-built 1x1 PNG, standing in for a QR code
ACCEPTED: dict[str, Any] = {
    "id": "srv-1",
    "utctime": T0_MS,
    "status": 202,
    "code": 2025,
    "message": {
        "challengeId": "ch-7f3a",
        "challengeQRcodeUrl": "https://qr.gridy.io/ch-7f3a.png",
        "challengeQRcode": "data:image/png;base64," + base64.b64encode(PNG).decode(),
    },
    "moreinfo": "https://support.gridy.io/status?code=2025",
}
CANCELLED: dict[str, Any] = {
    "id": "srv-2",
    "utctime": T0_MS,
    "status": 202,
    "code": 2028,
    "message": {"status": "CANCELLED"},
    "moreinfo": "https://support.gridy.io/status?code=2028",
}


class FrozenClock:
    """A clock standing still at T0 unless a test moves it."""

    def __init__(self) -> None:
        self.ms = T0_MS

    def __call__(self) -> float:
        return self.ms / 1000


@pytest.fixture
def stamper() -> Stamper:
    """A private stamper on a frozen clock, so stamps are predictable."""
    return Stamper(clock=FrozenClock())


@pytest.fixture
async def client(stamper: Stamper) -> AsyncIterator[GridyClient]:
    """A client in the documented dialect, closed after the test."""
    gridy = GridyClient(API_USER, SECRET, stamper=stamper)
    yield gridy
    await gridy.aclose()


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    """aioresponses intercepting every aiohttp request."""
    with aioresponses() as mock:
        yield mock


def sent(mock: aioresponses) -> list[RequestCall]:
    """Every request the mock captured, in order."""
    assert mock.requests is not None
    return [call for calls in mock.requests.values() for call in calls]


def assert_not_advanced(stamper: Stamper) -> None:
    """Assert no stamp was taken: the next one is still the clock's own time."""
    assert stamper.lead_ms == 0
    assert stamper.next().utctime == T0_MS


def assert_signed(
    headers: CIMultiDict[str], body: bytes, time_key: str = "utctime"
) -> None:
    """Check one request's signature against its own headers and envelope."""
    utctime = headers["x-gridy-utctime"]
    cnonce = headers["x-gridy-cnonce"]
    message = f"x-gridy-utctime: {utctime}\nx-gridy-cnonce: {cnonce}".encode()
    mac = hmac.new(SECRET.encode(), message, hashlib.sha512).hexdigest()

    assert headers["Authorization"] == (
        f"gridy-hmac: apiuser={API_USER},signedheaders=x-gridy-utctime;"
        f"x-gridy-cnonce,algorithm=gridy-hmac512,signature={mac}"
    )
    assert headers["x-gridy-apiuser"] == API_USER
    assert utctime.isdigit()
    assert len(utctime) == 13
    assert uuid.UUID(cnonce).version == 4
    assert str(uuid.UUID(cnonce)) == cnonce
    assert headers["Accept"] == JSON_TYPE
    assert headers["Content-Type"] == JSON_TYPE
    assert headers["User-Agent"].startswith("gridy_async/")
    assert json.loads(body)[time_key] == utctime


def assert_call_signed(call: RequestCall, time_key: str = "utctime") -> bytes:
    """Check a captured call's signature; return its body bytes."""
    body = call.kwargs["data"]
    assert isinstance(body, bytes)
    assert_signed(CIMultiDict(call.kwargs["headers"]), body, time_key)
    return body


def assert_foreign_free(exc: BaseException) -> None:
    """Assert an exception is ours, not aiohttp's or cattrs'."""
    assert isinstance(exc, GridyError)
    assert type(exc).__module__ == "gridy_async._errors"
    assert not isinstance(exc, (aiohttp.ClientError, cattrs.BaseValidationError))


async def call_operation(client: GridyClient, operation: str) -> object:
    """Send or cancel a challenge for USER, as ``operation`` says."""
    if operation == "send":
        return await client.send_challenge(USER)
    return await client.cancel_challenge("ch-7f3a", USER)


def gridy_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The records the gridy_async logger emitted."""
    return [r for r in caplog.records if r.name.split(".")[0] == "gridy_async"]


# --- Successful calls ------------------------------------------------------

SEND_OPTIONS: dict[str, Any] = {
    "challenge_type": ChallengeType.USER_KEY_PATTERN_AND_PIN,
    "expiry": "ThirtyMins",
    "enable_qr_code": True,
    "enable_auto_verify": True,
    "profile": "DEFAULT",
    "ip_address": "203.0.113.7",
    "ref": "order-42",
}
FULL_BODY = (
    '{"gridyUser":"ann@example.com","challengeType":"UserKeyPatternAndPin",'
    '"challengeExpiry":"ThirtyMins","enableQRCode":true,"enableAutoVerify":true,'
    '"profile":"DEFAULT","ipAddress":"203.0.113.7","status":"NEW"}'
)
CANCEL_BODY = (
    '{"challengeId":"ch-7f3a","gridyUser":"ann@example.com","status":"CANCEL"}'
)


def _quoted(body: str) -> str:
    return '"' + body.replace('"', '\\"') + '"'


@pytest.mark.parametrize(
    ("dialect", "time_key", "expected"),
    [
        (
            WireDialect.DOCUMENTED,
            "utctime",
            '{"id":"order-42","utctime":"1734732919817","apiUser":"123456789",'
            f'"type":150,"body":{FULL_BODY}}}',
        ),
        (
            WireDialect.SDK,
            "utcTime",
            '{"id":"order-42","utcTime":"1734732919817","apiUser":"123456789",'
            f'"type":150,"body":{_quoted(FULL_BODY)}}}',
        ),
    ],
)
async def test_send_challenge_is_signed_exact_and_returns_png(
    mocked: aioresponses,
    stamper: Stamper,
    dialect: WireDialect,
    time_key: str,
    expected: str,
) -> None:
    """send_challenge posts exact, correctly signed JSON and returns the PNG."""
    mocked.post(CHALLENGE_URL, status=202, payload=ACCEPTED)

    gridy = GridyClient(API_USER, SECRET, stamper=stamper, dialect=dialect)
    async with gridy:
        accepted = await gridy.send_challenge(USER, **SEND_OPTIONS)

    (call,) = sent(mocked)
    assert assert_call_signed(call, time_key) == expected.encode()
    assert call.kwargs["headers"]["x-gridy-utctime"] == str(T0_MS)
    assert call.kwargs["allow_redirects"] is False
    assert isinstance(accepted, ChallengeAccepted)
    assert accepted.challenge_id == "ch-7f3a"
    assert accepted.qr_code_png == PNG
    assert accepted.qr_code_url == "https://qr.gridy.io/ch-7f3a.png"
    assert accepted.server_id == "srv-1"


@pytest.mark.parametrize(
    ("dialect", "time_key", "expected"),
    [
        (
            WireDialect.DOCUMENTED,
            "utctime",
            '{"utctime":"1734732919817","apiUser":"123456789",'
            f'"type":151,"body":{CANCEL_BODY}}}',
        ),
        (
            "sdk",
            "utcTime",
            '{"utcTime":"1734732919817","apiUser":"123456789",'
            f'"type":151,"body":{_quoted(CANCEL_BODY)}}}',
        ),
    ],
)
async def test_cancel_challenge_is_signed_exact_and_returns_cancelled(
    mocked: aioresponses,
    stamper: Stamper,
    dialect: WireDialect | str,
    time_key: str,
    expected: str,
) -> None:
    """cancel_challenge posts exact, signed JSON and returns ChallengeCancelled."""
    mocked.post(CHALLENGE_URL, status=202, payload=CANCELLED)

    gridy = GridyClient(API_USER, SECRET, stamper=stamper, dialect=dialect)
    async with gridy:
        cancelled = await gridy.cancel_challenge("ch-7f3a", USER)

    (call,) = sent(mocked)
    assert assert_call_signed(call, time_key) == expected.encode()
    assert isinstance(cancelled, ChallengeCancelled)
    assert cancelled.challenge_id == "ch-7f3a"
    assert cancelled.status == "CANCELLED"
    assert cancelled.server_id == "srv-2"


async def test_minimal_send_omits_unset_fields(
    mocked: aioresponses, client: GridyClient
) -> None:
    """A call with defaults sends no id, profile or ipAddress key."""
    mocked.post(CHALLENGE_URL, status=202, payload=ACCEPTED)

    await client.send_challenge(USER)

    (call,) = sent(mocked)
    assert assert_call_signed(call) == (
        b'{"utctime":"1734732919817","apiUser":"123456789","type":150,'
        b'"body":{"gridyUser":"ann@example.com","challengeType":"UserKeyAndPattern",'
        b'"challengeExpiry":"FifteenMins","enableQRCode":true,'
        b'"enableAutoVerify":false,"status":"NEW"}}'
    )


async def test_every_request_gets_its_own_stamp_and_signature(
    mocked: aioresponses, client: GridyClient
) -> None:
    """Repeated calls in one frozen millisecond get distinct times and nonces."""
    mocked.post(CHALLENGE_URL, status=202, payload=ACCEPTED, repeat=True)

    await asyncio.gather(*(client.send_challenge(USER) for _ in range(20)))

    calls = sent(mocked)
    headers = [CIMultiDict(call.kwargs["headers"]) for call in calls]
    assert len(calls) == 20
    for call in calls:
        assert_call_signed(call)
    times = sorted(int(h["x-gridy-utctime"]) for h in headers)
    assert times == list(range(T0_MS, T0_MS + 20))
    assert len({h["x-gridy-cnonce"] for h in headers}) == 20
    assert len({h["Authorization"] for h in headers}) == 20


async def test_bytes_secret_signs_like_text(
    mocked: aioresponses, stamper: Stamper
) -> None:
    """A secret given as bytes yields the same signature as the text secret."""
    mocked.post(CHALLENGE_URL, status=202, payload=CANCELLED)

    async with GridyClient(API_USER, SECRET.encode(), stamper=stamper) as gridy:
        await gridy.cancel_challenge("ch-7f3a", USER)

    (call,) = sent(mocked)
    assert_call_signed(call)


async def test_base_url_path_and_trailing_slash(
    mocked: aioresponses, stamper: Stamper
) -> None:
    """A base URL with a path and a trailing slash is joined without '//'."""
    url = "https://api.gridy.io/prod/v1/svc/challenge"
    mocked.post(url, status=202, payload=CANCELLED)

    async with GridyClient(
        API_USER, SECRET, stamper=stamper, base_url="https://api.gridy.io/prod/"
    ) as gridy:
        assert gridy.base_url == "https://api.gridy.io/prod"
        await gridy.cancel_challenge("ch-7f3a", USER)

    assert mocked.requests is not None
    assert list(mocked.requests) == [("POST", URL(url))]


# --- Error answers ---------------------------------------------------------

ERROR_FAMILIES: list[tuple[int, int, type[ApiError]]] = [
    (-1001, 400, ApiUserError),
    (-1095, 400, AutoVerifyDisabledError),
    (-2003, 400, AccountStateError),
    (-2004, 400, AccountBlockedError),
    (-2006, 400, AccountLockedError),
    (-2007, 400, AccountDisabledError),
    (-2035, 400, ChallengeCancelledError),
    (-4001, 400, RequestHeaderError),
    (-4034, 400, NonceReusedError),
    (-4035, 400, TimestampReusedError),
    (-4036, 400, ClockDriftError),
    (-4037, 400, InvalidSignatureError),
    (-5075, 400, InvalidRequestError),
    (-5079, 400, InvalidEmailError),
    (-6021, 400, IPBlockedError),
    (-5000, 500, InternalServerError),
    (5000, 500, InternalServerError),
    (-7777, 400, UnknownCodeError),
]


def _error_body(code: int, http_status: int) -> dict[str, Any]:
    return {
        "id": f"srv{code}",
        "utctime": T0_MS,
        "status": http_status,
        "code": code,
        "message": f"BAD REQUEST :- ERROR {code}",
        "moreinfo": f"https://support.gridy.io/error?code={code}",
    }


@pytest.mark.parametrize("operation", ["send", "cancel"])
@pytest.mark.parametrize(
    ("code", "http_status", "error"),
    ERROR_FAMILIES,
    ids=[str(code) for code, _, _ in ERROR_FAMILIES],
)
async def test_error_code_raises_its_class_with_details(
    mocked: aioresponses,
    client: GridyClient,
    operation: str,
    code: int,
    http_status: int,
    error: type[ApiError],
) -> None:
    """Each error family raises its own class carrying the server's details."""
    mocked.post(CHALLENGE_URL, status=http_status, payload=_error_body(code, 400))

    with pytest.raises(ApiError) as caught:
        await call_operation(client, operation)

    exc = caught.value
    assert type(exc) is error
    assert exc.http_status == http_status
    assert exc.code == code
    assert exc.server_message == f"BAD REQUEST :- ERROR {code}"
    assert exc.more_info == f"https://support.gridy.io/error?code={code}"
    assert exc.server_id == f"srv{code}"
    assert str(code) in str(exc)


async def test_another_operations_success_code_is_unknown(
    mocked: aioresponses, client: GridyClient
) -> None:
    """A 2028 answer to send_challenge raises UnknownCodeError keeping the code."""
    mocked.post(CHALLENGE_URL, status=202, payload=CANCELLED)

    with pytest.raises(UnknownCodeError) as caught:
        await client.send_challenge(USER)

    assert caught.value.code == 2028
    assert caught.value.server_id == "srv-2"


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({}, None),
    ],
)
async def test_429_raises_rate_limited_with_retry_after(
    mocked: aioresponses,
    client: GridyClient,
    headers: dict[str, str],
    retry_after: float | None,
) -> None:
    """HTTP 429 raises RateLimitedError carrying Retry-After seconds if numeric."""
    mocked.post(
        CHALLENGE_URL,
        status=429,
        body="Too Many Requests",
        content_type="text/plain",
        headers=headers,
    )

    with pytest.raises(RateLimitedError) as caught:
        await client.send_challenge(USER)

    assert caught.value.http_status == 429
    assert caught.value.code is None
    assert caught.value.retry_after == retry_after


# --- Transport failures ----------------------------------------------------


def _connection_key() -> Any:
    from aiohttp.client_reqrep import ConnectionKey

    return ConnectionKey("api.gridy.io", 443, True, True, None, None, None, None)


def _request_info() -> aiohttp.RequestInfo:
    url = URL(CHALLENGE_URL)
    return aiohttp.RequestInfo(url, "POST", CIMultiDictProxy(CIMultiDict()), url)


LOST: list[tuple[str, Callable[[], Exception], type[TransportError]]] = [
    ("server-disconnected", aiohttp.ServerDisconnectedError, ConnectionLostError),
    (
        "connection-reset",
        lambda: aiohttp.ClientOSError(104, "Connection reset by peer"),
        ConnectionLostError,
    ),
    (
        "payload-cut",
        lambda: aiohttp.ClientPayloadError("Response payload is not completed"),
        ConnectionLostError,
    ),
    (
        "bad-http",
        lambda: aiohttp.ClientResponseError(
            _request_info(), (), status=0, message="Invalid HTTP response"
        ),
        ConnectionLostError,
    ),
    ("asyncio-timeout", asyncio.TimeoutError, RequestTimeoutError),
    ("read-timeout", aiohttp.SocketTimeoutError, RequestTimeoutError),
    ("server-timeout", aiohttp.ServerTimeoutError, RequestTimeoutError),
]
REFUSED: list[tuple[str, Callable[[], Exception]]] = [
    (
        "refused",
        lambda: aiohttp.ClientConnectorError(
            _connection_key(), ConnectionRefusedError(111, "Connection refused")
        ),
    ),
    ("connect-timeout", aiohttp.ConnectionTimeoutError),
]


@pytest.mark.parametrize(
    ("make", "cause"), [(m, c) for _, m, c in LOST], ids=[n for n, _, _ in LOST]
)
async def test_send_with_lost_answer_is_outcome_unknown(
    mocked: aioresponses,
    client: GridyClient,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[], Exception],
    cause: type[TransportError],
) -> None:
    """A dropped or timed-out send raises OutcomeUnknownError caused by it."""
    mocked.post(CHALLENGE_URL, exception=make())

    with pytest.raises(OutcomeUnknownError) as caught:
        await client.send_challenge(USER)

    exc = caught.value
    assert_foreign_free(exc)
    assert exc.operation == "send_challenge"
    assert type(exc.__cause__) is cause
    assert MASKED_USER in str(exc)
    assert USER not in str(exc)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        (504, b""),
        (200, b"OK"),
    ],
)
async def test_send_with_non_json_answer_is_outcome_unknown(
    mocked: aioresponses, client: GridyClient, status: int, body: bytes
) -> None:
    """A proxy's non-JSON or empty page makes a send's outcome unknown."""
    mocked.post(CHALLENGE_URL, status=status, body=body, content_type="text/html")

    with pytest.raises(OutcomeUnknownError) as caught:
        await client.send_challenge(USER)

    cause = caught.value.__cause__
    assert isinstance(cause, InvalidResponseError)
    assert cause.http_status == status
    assert cause.snippet == body.decode()


async def test_send_with_json_too_deep_to_parse_is_outcome_unknown(
    mocked: aioresponses, client: GridyClient
) -> None:
    """A body nested too deep for the JSON parser never leaks RecursionError."""
    mocked.post(CHALLENGE_URL, status=202, body=b"[" * 100_000 + b"]" * 100_000)

    with pytest.raises(OutcomeUnknownError) as caught:
        await client.send_challenge(USER)

    assert isinstance(caught.value.__cause__, InvalidResponseError)


async def test_send_with_unreadable_json_is_outcome_unknown(
    mocked: aioresponses, client: GridyClient
) -> None:
    """JSON without a readable code makes a send's outcome unknown (DecodeError)."""
    mocked.post(CHALLENGE_URL, status=202, payload={"code": True})

    with pytest.raises(OutcomeUnknownError) as caught:
        await client.send_challenge(USER)

    cause = caught.value.__cause__
    assert isinstance(cause, DecodeError)
    assert cause.field == "code"


async def test_accepted_send_with_bad_qr_code_keeps_the_challenge_id(
    mocked: aioresponses, client: GridyClient
) -> None:
    """A 2025 whose QR code is garbage raises DecodeError carrying the challenge id."""
    body = json.loads(json.dumps(ACCEPTED))
    body["message"]["challengeQRcode"] = "data:image/png;base64,iVBOR*w0KGgo="
    mocked.post(CHALLENGE_URL, status=202, payload=body)

    with pytest.raises(DecodeError) as caught:
        await client.send_challenge(USER)

    assert caught.value.challenge_id == "ch-7f3a"
    assert caught.value.field == "message.challengeQRcode"
    assert "ch-7f3a" in str(caught.value)


@pytest.mark.parametrize("make", [m for _, m in REFUSED], ids=[n for n, _ in REFUSED])
async def test_send_that_never_connected_is_connect_error(
    mocked: aioresponses, client: GridyClient, make: Callable[[], Exception]
) -> None:
    """A refused or timed-out connection raises ConnectError: nothing was sent."""
    mocked.post(CHALLENGE_URL, exception=make())

    with pytest.raises(ConnectError) as caught:
        await client.send_challenge(USER)

    assert_foreign_free(caught.value)
    assert isinstance(caught.value.__cause__, aiohttp.ClientError)


async def test_send_to_a_closed_loopback_port_is_connect_error(
    stamper: Stamper,
) -> None:
    """A real refused connection on loopback raises ConnectError."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async with GridyClient(
        API_USER, SECRET, stamper=stamper, base_url=f"http://127.0.0.1:{port}"
    ) as gridy:
        with pytest.raises(ConnectError) as caught:
            await gridy.send_challenge(USER)

    assert_foreign_free(caught.value)


@pytest.mark.parametrize(
    ("make", "error"),
    [(m, c) for _, m, c in LOST] + [(m, ConnectError) for _, m in REFUSED],
    ids=[n for n, _, _ in LOST] + [n for n, _ in REFUSED],
)
async def test_cancel_raises_the_transport_error_itself(
    mocked: aioresponses,
    client: GridyClient,
    make: Callable[[], Exception],
    error: type[TransportError],
) -> None:
    """cancel_challenge raises the TransportError, never OutcomeUnknownError."""
    mocked.post(CHALLENGE_URL, exception=make())

    with pytest.raises(TransportError) as caught:
        await client.cancel_challenge("ch-7f3a", USER)

    assert type(caught.value) is error
    assert_foreign_free(caught.value)
    assert isinstance(caught.value.__cause__, (aiohttp.ClientError, TimeoutError))


async def test_cancel_with_non_json_answer_is_invalid_response(
    mocked: aioresponses, client: GridyClient
) -> None:
    """A non-JSON 502 to a cancel raises InvalidResponseError with a snippet."""
    mocked.post(CHALLENGE_URL, status=502, body="Bad Gateway", content_type="text/x")

    with pytest.raises(InvalidResponseError) as caught:
        await client.cancel_challenge("ch-7f3a", USER)

    assert caught.value.http_status == 502
    assert caught.value.snippet == "Bad Gateway"


@pytest.mark.parametrize(
    "payload",
    [
        {"code": {"nested": 1}},
        {"code": 2025, "status": [202]},
        {"code": 2025, "message": 12},
        {"code": 2025, "message": {"challengeQRcodeUrl": "u"}},
        {"code": 2025, "message": {"challengeId": "c", "challengeQRcode": "data:x"}},
        {"status": 202},
        {"code": 2025, "utctime": float("inf"), "message": "x"},
        {"code": -2035, "message": '{"a":' * 50_000 + "1" + "}" * 50_000},
    ],
)
@pytest.mark.parametrize("operation", ["send", "cancel"])
async def test_unreadable_json_never_leaks_cattrs_errors(
    mocked: aioresponses,
    client: GridyClient,
    payload: dict[str, Any],
    operation: str,
) -> None:
    """Badly shaped JSON raises our own errors, never a cattrs exception."""
    mocked.post(CHALLENGE_URL, status=202, payload=payload)

    with pytest.raises(GridyError) as caught:
        await call_operation(client, operation)

    assert_foreign_free(caught.value)
    assert isinstance(caught.value, (DecodeError, OutcomeUnknownError, ApiError))


# --- Borrowed sessions and closing -------------------------------------------


async def test_raise_for_status_session_still_yields_api_error(
    mocked: aioresponses, stamper: Stamper
) -> None:
    """A borrowed raise_for_status session still gives ApiError and stays open."""
    mocked.post(CHALLENGE_URL, status=400, payload=_error_body(-2035, 400))

    async with aiohttp.ClientSession(raise_for_status=True) as session:
        gridy = GridyClient(API_USER, SECRET, stamper=stamper, session=session)
        with pytest.raises(ChallengeCancelledError) as caught:
            await gridy.cancel_challenge("ch-7f3a", USER)
        await gridy.aclose()

        assert caught.value.http_status == 400
        assert not session.closed
        with pytest.raises(ClientClosedError):
            await gridy.cancel_challenge("ch-7f3a", USER)


Seen = list[tuple[CIMultiDict[str], bytes]]


@pytest.fixture
async def loopback() -> AsyncIterator[tuple[str, Seen]]:
    """A loopback server answering -2035 with HTTP 400, recording requests."""
    seen: Seen = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((CIMultiDict(request.headers), await request.read()))
        return web.json_response(_error_body(-2035, 400), status=400)

    app = web.Application()
    app.router.add_post("/v1/svc/challenge", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


async def test_raise_for_status_session_on_loopback(
    loopback: tuple[str, Seen], stamper: Stamper
) -> None:
    """Through a real connection, a raise_for_status session still gives ApiError."""
    base_url, seen = loopback

    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with GridyClient(
            API_USER, SECRET, stamper=stamper, session=session, base_url=base_url
        ) as gridy:
            with pytest.raises(ChallengeCancelledError) as caught:
                await gridy.cancel_challenge("ch-7f3a", USER)
        assert not session.closed

    assert caught.value.code == -2035
    ((headers, body),) = seen
    assert_signed(headers, body)
    assert body == (
        b'{"utctime":"1734732919817","apiUser":"123456789","type":151,'
        + f'"body":{CANCEL_BODY}}}'.encode()
    )


async def test_calls_after_aclose_fail_before_stamping(
    mocked: aioresponses, stamper: Stamper, caplog: pytest.LogCaptureFixture
) -> None:
    """After aclose (twice is fine) calls raise ClientClosedError, taking no stamp."""
    mocked.post(CHALLENGE_URL, status=202, payload=ACCEPTED, repeat=True)
    gridy = GridyClient(API_USER, SECRET, stamper=stamper)
    await gridy.aclose()
    await gridy.aclose()
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ClientClosedError):
        await gridy.send_challenge(USER)
    with pytest.raises(ClientClosedError):
        await gridy.cancel_challenge("ch-7f3a", USER)

    assert sent(mocked) == []
    assert gridy_records(caplog) == []
    assert_not_advanced(stamper)


async def test_borrowed_session_closed_by_its_owner_is_client_closed(
    mocked: aioresponses, stamper: Stamper
) -> None:
    """A session closed by its owner gives ClientClosedError, not aiohttp's error."""
    mocked.post(CHALLENGE_URL, status=202, payload=CANCELLED)
    session = aiohttp.ClientSession()
    gridy = GridyClient(API_USER, SECRET, stamper=stamper, session=session)
    await session.close()

    with pytest.raises(ClientClosedError) as caught:
        await gridy.cancel_challenge("ch-7f3a", USER)

    assert_foreign_free(caught.value)
    assert sent(mocked) == []
    await gridy.aclose()


async def test_context_manager_closes_its_own_session(
    mocked: aioresponses, stamper: Stamper
) -> None:
    """Leaving ``async with`` closes the client; a later call is refused."""
    mocked.post(CHALLENGE_URL, status=202, payload=ACCEPTED)

    async with GridyClient(API_USER, SECRET, stamper=stamper) as gridy:
        await gridy.send_challenge(USER)

    with pytest.raises(ClientClosedError):
        await gridy.send_challenge(USER)
    assert len(sent(mocked)) == 1


async def test_client_needs_no_event_loop_to_be_built() -> None:
    """Building a client creates no session, so it needs no running loop."""
    gridy = await asyncio.to_thread(GridyClient, API_USER, SECRET)

    assert gridy.api_user == API_USER
    await gridy.aclose()


# --- Validation before sending -----------------------------------------------

LONG_EMAIL = "a" * 60 + "@" + "b" * 53 + ".example.com"  # 126: valid but too long

SEND_INVALID: list[tuple[dict[str, Any], str]] = [
    ({"user": "not-an-email"}, "user"),
    ({"user": "ann@localhost"}, "user"),
    ({"user": "ann@@example.com"}, "user"),
    ({"user": LONG_EMAIL}, "user"),
    ({"user": None}, "user"),
    ({"ref": "r" * 26}, "ref"),
    ({"ref": "line\nbreak"}, "ref"),
    ({"ref": ""}, "ref"),
    ({"ip_address": "256.1.1.1"}, "ip_address"),
    ({"ip_address": "203.0.113"}, "ip_address"),
    ({"ip_address": "2001:db8::1"}, "ip_address"),
    ({"ip_address": " 203.0.113.7"}, "ip_address"),
    ({"challenge_type": "UserKeyAndPatterns"}, "challenge_type"),
    ({"challenge_type": "userkeyandpattern"}, "challenge_type"),
    ({"expiry": "TwoMins"}, "expiry"),
    ({"enable_qr_code": "true"}, "enable_qr_code"),
    ({"enable_auto_verify": 1}, "enable_auto_verify"),
    ({"profile": ""}, "profile"),
]


@pytest.mark.parametrize(
    ("arguments", "field"),
    SEND_INVALID,
    ids=[f"{field}-{i}" for i, (_, field) in enumerate(SEND_INVALID)],
)
async def test_send_validation_happens_before_anything_is_sent(
    mocked: aioresponses,
    client: GridyClient,
    stamper: Stamper,
    caplog: pytest.LogCaptureFixture,
    arguments: dict[str, Any],
    field: str,
) -> None:
    """A bad argument raises ValidationError with no request and no stamp taken."""
    caplog.set_level(logging.DEBUG)
    mocked.post(CHALLENGE_URL, status=202, payload=ACCEPTED)
    call = {"user": USER, **arguments}

    with pytest.raises(ValidationError) as caught:
        await client.send_challenge(**call)

    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert sent(mocked) == []
    assert gridy_records(caplog) == []
    assert_not_advanced(stamper)


async def test_long_email_is_refused_for_its_length_alone(
    mocked: aioresponses, client: GridyClient
) -> None:
    """A 126-character address is refused for its length; 125 would be fine."""
    mocked.post(CHALLENGE_URL, status=202, payload=ACCEPTED)
    assert len(LONG_EMAIL) == 126

    with pytest.raises(ValidationError, match="125"):
        await client.send_challenge(LONG_EMAIL)
    accepted = await client.send_challenge(LONG_EMAIL[1:])

    assert accepted.challenge_id == "ch-7f3a"


CANCEL_INVALID: list[tuple[dict[str, Any], str]] = [
    ({"challenge_id": ""}, "challenge_id"),
    ({"challenge_id": "x" * 201}, "challenge_id"),
    ({"challenge_id": "ch\x00"}, "challenge_id"),
    ({"user": "ann"}, "user"),
    ({"user": LONG_EMAIL}, "user"),
    ({"ref": "r" * 26}, "ref"),
]


@pytest.mark.parametrize(
    ("arguments", "field"),
    CANCEL_INVALID,
    ids=[f"{field}-{i}" for i, (_, field) in enumerate(CANCEL_INVALID)],
)
async def test_cancel_validation_happens_before_anything_is_sent(
    mocked: aioresponses,
    client: GridyClient,
    stamper: Stamper,
    arguments: dict[str, Any],
    field: str,
) -> None:
    """A bad cancel argument raises ValidationError with nothing sent or stamped."""
    mocked.post(CHALLENGE_URL, status=202, payload=CANCELLED)
    call = {"challenge_id": "ch-7f3a", "user": USER, **arguments}

    with pytest.raises(ValidationError) as caught:
        await client.cancel_challenge(**call)

    assert caught.value.field == field
    assert SECRET not in str(caught.value)
    assert sent(mocked) == []
    assert_not_advanced(stamper)


@pytest.mark.parametrize(
    ("api_user", "api_secret", "field"),
    [
        ("123 456789", SECRET, "api_user"),
        ("123456789\n", SECRET, "api_user"),
        ("", SECRET, "api_user"),
        ("\t", SECRET, "api_user"),
        (API_USER, SECRET + " trailing", "api_secret"),
        (API_USER, " " + SECRET, "api_secret"),
        (API_USER, SECRET + "\n", "api_secret"),
        (API_USER, SECRET[:10] + "\x00" + SECRET[10:], "api_secret"),
        (API_USER, (SECRET + " x").encode(), "api_secret"),
        (API_USER, "", "api_secret"),
        (API_USER, b"", "api_secret"),
    ],
)
def test_bad_credentials_are_refused_without_echoing_the_secret(
    stamper: Stamper, api_user: str, api_secret: str | bytes, field: str
) -> None:
    """Whitespace or emptiness in credentials is refused; the secret is not echoed."""
    with pytest.raises(ValidationError) as caught:
        GridyClient(api_user, api_secret, stamper=stamper)

    assert caught.value.field == field
    for text in (str(caught.value), repr(caught.value)):
        assert SECRET not in text
        assert SECRET[:10] not in text
    assert_not_advanced(stamper)


@pytest.mark.parametrize("dialect", ["documented ", "json", 3])
def test_unknown_dialect_is_refused(dialect: Any) -> None:
    """A dialect that is not a WireDialect value is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        GridyClient(API_USER, SECRET, dialect=dialect)


@pytest.mark.parametrize(
    ("timeout", "connect_timeout"), [(0, 10), (30, 0), (-1, 10), (float("nan"), 1)]
)
def test_non_positive_timeouts_are_refused(
    timeout: float, connect_timeout: float
) -> None:
    """Zero, negative or NaN timeouts raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        GridyClient(API_USER, SECRET, timeout=timeout, connect_timeout=connect_timeout)


# --- Base URL and environment ----------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.gridy.io",
        "http://10.0.0.5:8080",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "http://example.com/127.0.0.1",
    ],
)
def test_plain_http_to_a_remote_host_needs_explicit_permission(base_url: str) -> None:
    """Plain http to a non-loopback host is refused unless allow_insecure_http."""
    with pytest.raises(ConfigurationError):
        GridyClient(API_USER, SECRET, base_url=base_url)

    insecure: dict[str, Any] = {"base_url": base_url, "allow_insecure_http": True}
    assert GridyClient(API_USER, SECRET, **insecure).base_url == base_url


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080",
        "http://127.0.0.2",
        "http://localhost:8080",
        "http://LOCALHOST",
        "http://[::1]:8080",
        "https://api.gridy.io",
        "https://api.gridy.io/uat",
    ],
)
def test_loopback_http_and_https_are_accepted(base_url: str) -> None:
    """http to loopback, and any https URL, need no special permission."""
    assert GridyClient(API_USER, SECRET, base_url=base_url).base_url == base_url


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://api.gridy.io",
        "api.gridy.io",
        "https://",
        "",
        "https:///v1",
        "https://api.gridy.io/?x=1",
        "https://api.gridy.io/#top",
        "https://user:pass@api.gridy.io",
    ],
)
def test_unusable_base_url_is_a_configuration_error(base_url: str) -> None:
    """A base URL that is not http(s) with a host raises ConfigurationError."""
    with pytest.raises(ConfigurationError):
        GridyClient(API_USER, SECRET, base_url=base_url, allow_insecure_http=True)


def test_from_env_reads_the_three_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env takes user, secret and base URL from the environment."""
    monkeypatch.setenv("GRIDY_API_USER", API_USER)
    monkeypatch.setenv("GRIDY_API_SECRET", SECRET)
    monkeypatch.setenv("GRIDY_BASE_URL", "https://uat.gridy.io")

    gridy = GridyClient.from_env()

    assert gridy.api_user == API_USER
    assert gridy.base_url == "https://uat.gridy.io"
    assert gridy.stamper is Stamper.shared(API_USER)


async def test_from_env_client_signs_with_the_env_secret(
    monkeypatch: pytest.MonkeyPatch, mocked: aioresponses, stamper: Stamper
) -> None:
    """The secret from GRIDY_API_SECRET is the one requests are signed with."""
    monkeypatch.setenv("GRIDY_API_USER", API_USER)
    monkeypatch.setenv("GRIDY_API_SECRET", SECRET)
    monkeypatch.delenv("GRIDY_BASE_URL", raising=False)
    mocked.post(CHALLENGE_URL, status=202, payload=CANCELLED)

    async with GridyClient.from_env(stamper=stamper) as gridy:
        assert gridy.base_url == BASE
        await gridy.cancel_challenge("ch-7f3a", USER)

    (call,) = sent(mocked)
    assert_call_signed(call)


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({"GRIDY_API_SECRET": SECRET}, ["GRIDY_API_USER"]),
        ({"GRIDY_API_USER": API_USER}, ["GRIDY_API_SECRET"]),
        ({"GRIDY_API_USER": API_USER, "GRIDY_API_SECRET": ""}, ["GRIDY_API_SECRET"]),
        ({}, ["GRIDY_API_USER", "GRIDY_API_SECRET"]),
    ],
)
def test_from_env_without_credentials_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], missing: list[str]
) -> None:
    """A missing or empty credential variable raises ConfigurationError naming it."""
    for name in ("GRIDY_API_USER", "GRIDY_API_SECRET", "GRIDY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationError) as caught:
        GridyClient.from_env()
    with pytest.raises(ConfigurationError):
        GridyClient.from_env(environ)

    for name in missing:
        assert name in str(caught.value)
    assert SECRET not in str(caught.value)


def test_from_env_checks_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unsafe GRIDY_BASE_URL is refused like an unsafe base_url argument."""
    environ = {
        "GRIDY_API_USER": API_USER,
        "GRIDY_API_SECRET": SECRET,
        "GRIDY_BASE_URL": "http://api.gridy.io",
    }

    with pytest.raises(ConfigurationError):
        GridyClient.from_env(environ)


# --- Secrets and logging ---------------------------------------------------


async def _scenarios(gridy: GridyClient, mock: aioresponses) -> list[BaseException]:
    """Run one call of every kind; return the exceptions raised."""
    mock.post(CHALLENGE_URL, status=202, payload=ACCEPTED)
    mock.post(CHALLENGE_URL, status=202, payload=CANCELLED)
    mock.post(CHALLENGE_URL, status=400, payload=_error_body(-4037, 400))
    mock.post(CHALLENGE_URL, status=429, headers={"Retry-After": "3"})
    mock.post(CHALLENGE_URL, exception=aiohttp.ServerDisconnectedError())
    mock.post(CHALLENGE_URL, exception=asyncio.TimeoutError())
    mock.post(CHALLENGE_URL, status=502, body="<html>Bad Gateway</html>")
    mock.post(CHALLENGE_URL, status=202, payload={"code": "x"})
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: gridy.send_challenge(USER),
        lambda: gridy.cancel_challenge("ch-7f3a", USER),
        lambda: gridy.send_challenge(USER),
        lambda: gridy.send_challenge(USER),
        lambda: gridy.send_challenge(USER),
        lambda: gridy.cancel_challenge("ch-7f3a", USER),
        lambda: gridy.send_challenge(USER),
        lambda: gridy.cancel_challenge("ch-7f3a", USER),
        lambda: gridy.send_challenge("not an address"),
        lambda: gridy.send_challenge(USER, ip_address="::1"),
    ]
    raised: list[BaseException] = []
    for call in calls:
        try:
            await call()
        except GridyError as exc:
            raised.append(exc)
    await gridy.aclose()
    try:
        await gridy.send_challenge(USER)
    except GridyError as exc:
        raised.append(exc)
    return raised


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


@pytest.mark.parametrize("secret", [SECRET, SECRET.encode()])
async def test_secret_canary_never_surfaces(
    mocked: aioresponses,
    stamper: Stamper,
    caplog: pytest.LogCaptureFixture,
    secret: str | bytes,
) -> None:
    """The secret is absent from reprs, every log record and every exception."""
    caplog.set_level(logging.DEBUG)
    gridy = GridyClient(API_USER, secret, stamper=stamper)

    raised = await _scenarios(gridy, mocked)

    assert len(raised) == 9
    assert SECRET not in repr(gridy)
    assert SECRET not in str(gridy)
    assert SECRET not in repr(vars(gridy))
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(vars(record))
    assert SECRET not in caplog.text
    for exc in raised:
        assert_foreign_free(exc)
        for link in _chain(exc):
            assert SECRET not in str(link)
            assert SECRET not in repr(link)
            assert SECRET not in repr(vars(link))


async def test_one_log_record_per_completed_call_with_masked_email(
    mocked: aioresponses, stamper: Stamper, caplog: pytest.LogCaptureFixture
) -> None:
    """Each completed call logs exactly one INFO record naming the masked user."""
    caplog.set_level(logging.DEBUG)
    gridy = GridyClient(API_USER, SECRET, stamper=stamper)
    outcomes = ["2025", "2028", "-4037", "RateLimitedError", "ConnectionLostError"]

    await _scenarios(gridy, mocked)

    records = gridy_records(caplog)
    assert len(records) == 8  # not the two invalid calls, nor the one after aclose
    for record in records:
        assert record.levelno == logging.INFO
        assert MASKED_USER in record.getMessage()
        assert USER not in record.getMessage()
        assert USER not in repr(vars(record))
    messages = [record.getMessage() for record in records]
    for outcome, message in zip(outcomes, messages[:5], strict=True):
        assert f"outcome {outcome}," in message
    assert messages[0].startswith("send_challenge for a***@example.com: HTTP 202")
    assert messages[1].startswith("cancel_challenge for a***@example.com: HTTP 202")


@pytest.mark.parametrize(
    ("respond", "call"),
    [
        ({"status": 202, "payload": ACCEPTED}, "send"),
        ({"status": 202, "payload": CANCELLED}, "cancel"),
        ({"status": 400, "payload": _error_body(-2035, 400)}, "cancel"),
        ({"exception": aiohttp.ServerDisconnectedError()}, "send"),
        ({"exception": aiohttp.ServerDisconnectedError()}, "cancel"),
    ],
)
async def test_single_call_logs_exactly_once(
    mocked: aioresponses,
    client: GridyClient,
    caplog: pytest.LogCaptureFixture,
    respond: dict[str, Any],
    call: str,
) -> None:
    """One call, whatever its outcome, produces exactly one gridy_async record."""
    caplog.set_level(logging.DEBUG)
    mocked.post(CHALLENGE_URL, **respond)

    try:
        await call_operation(client, call)
    except GridyError as exc:
        assert_foreign_free(exc)

    (record,) = gridy_records(caplog)
    assert record.levelno == logging.INFO
    assert MASKED_USER in record.getMessage()
    assert USER not in record.getMessage()
