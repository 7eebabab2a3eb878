"""The sandbox checks what Gridy checks, end to end over loopback."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

import gridy_async
from gridy_async import (
    ChallengeCancelledError,
    ClockDriftError,
    GridyClient,
    InternalServerError,
    InvalidSignatureError,
    Stamper,
    WireDialect,
    authorization_header,
    signature,
)
from gridy_async.testing import ChallengeFate, GridySandbox

Headers = dict[str, str]


def signed_headers(sandbox: GridySandbox, **changes: str | None) -> Headers:
    """Valid headers for one request, with ``changes`` applied (None drops one)."""
    utctime = str(int(time.time() * 1000))
    cnonce = str(uuid.uuid4())
    mac = signature(sandbox.api_secret, utctime, cnonce)
    headers: dict[str, str | None] = {
        "Authorization": authorization_header(sandbox.api_user, mac),
        "x-gridy-apiuser": sandbox.api_user,
        "x-gridy-utctime": utctime,
        "x-gridy-cnonce": cnonce,
        "Content-Type": "application/json; charset=utf-8",
    }
    headers.update(changes)
    return {name: value for name, value in headers.items() if value is not None}


def new_challenge(sandbox: GridySandbox, **body: Any) -> bytes:
    """A documented-dialect new-challenge envelope with ``body`` fields merged in."""
    fields = {"gridyUser": "ann@example.com", "challengeType": "UserKeyAndPattern"}
    fields.update(body)
    envelope = {
        "utctime": str(int(time.time() * 1000)),
        "apiUser": sandbox.api_user,
        "type": 150,
        "body": {k: v for k, v in fields.items() if v is not None},
    }
    return json.dumps(envelope).encode()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A bare aiohttp session, for requests the client would never send."""
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, sandbox: GridySandbox, headers: Headers, body: bytes
) -> tuple[int, dict[str, Any]]:
    """POST to the challenge endpoint; return the HTTP status and JSON body."""
    url = sandbox.url + "/v1/svc/challenge"
    async with http.post(url, headers=headers, data=body) as response:
        return response.status, await response.json()


def auth_with(sandbox: GridySandbox, **parts: str) -> Callable[[Headers], str]:
    """An Authorization header built from ``parts`` over the defaults."""

    def build(headers: Headers) -> str:
        mac = signature(
            sandbox.api_secret, headers["x-gridy-utctime"], headers["x-gridy-cnonce"]
        )
        fields = {
            "apiuser": sandbox.api_user,
            "signedheaders": "x-gridy-utctime;x-gridy-cnonce",
            "algorithm": "gridy-hmac512",
            "signature": mac,
        }
        fields.update(parts)
        items = ",".join(f"{k}={v}" for k, v in fields.items() if v != "-")
        return f"gridy-hmac: {items}"

    return build


HEADER_CASES: list[tuple[str, dict[str, str | None], int]] = [
    ("utctime missing", {"x-gridy-utctime": None}, -4004),
    ("utctime not digits", {"x-gridy-utctime": "yesterday"}, -4005),
    ("cnonce missing", {"x-gridy-cnonce": None}, -4006),
    ("cnonce with spaces", {"x-gridy-cnonce": "not a nonce"}, -4007),
    ("apiuser missing", {"x-gridy-apiuser": None}, -4008),
    ("apiuser not 9 digits", {"x-gridy-apiuser": "12345"}, -4009),
    ("authorization missing", {"Authorization": None}, -4000),
    ("authorization of another scheme", {"Authorization": "Bearer abc"}, -4001),
    ("authorization without key=value", {"Authorization": "gridy-hmac: x"}, -4001),
]

PART_CASES: list[tuple[str, dict[str, str], int]] = [
    ("signature missing", {"signature": "-"}, -4026),
    ("signature not hex", {"signature": "Z" * 128}, -4027),
    ("apiuser part missing", {"apiuser": "-"}, -4028),
    ("apiuser part differs", {"apiuser": "987654321"}, -4029),
    ("algorithm missing", {"algorithm": "-"}, -4030),
    ("algorithm other", {"algorithm": "gridy-hmac256"}, -4031),
    ("signedheaders missing", {"signedheaders": "-"}, -4032),
    ("signedheaders other", {"signedheaders": "x-gridy-cnonce"}, -4033),
    ("signature wrong", {"signature": "0" * 128}, -4037),
]


@pytest.mark.parametrize(
    ("changes", "code"),
    [case[1:] for case in HEADER_CASES],
    ids=[case[0] for case in HEADER_CASES],
)
async def test_header_checks(
    sandbox: GridySandbox,
    http: aiohttp.ClientSession,
    changes: dict[str, str | None],
    code: int,
) -> None:
    """Each missing or malformed x-gridy-* or Authorization header gets its code."""
    headers = signed_headers(sandbox, **changes)

    status, body = await post(http, sandbox, headers, new_challenge(sandbox))

    assert (status, body["code"]) == (400, code)
    assert body["moreinfo"].endswith(f"code={code}")


@pytest.mark.parametrize(
    ("parts", "code"),
    [case[1:] for case in PART_CASES],
    ids=[case[0] for case in PART_CASES],
)
async def test_authorization_part_checks(
    sandbox: GridySandbox,
    http: aiohttp.ClientSession,
    parts: dict[str, str],
    code: int,
) -> None:
    """Each missing or wrong part of the Authorization header gets its code."""
    headers = signed_headers(sandbox)
    headers["Authorization"] = auth_with(sandbox, **parts)(headers)

    status, body = await post(http, sandbox, headers, new_challenge(sandbox))

    assert (status, body["code"]) == (400, code)


async def test_unknown_api_user(
    sandbox: GridySandbox, http: aiohttp.ClientSession
) -> None:
    """A well-formed request from an API user the sandbox does not know is -1001."""
    headers = signed_headers(sandbox, **{"x-gridy-apiuser": "987654321"})
    headers["Authorization"] = auth_with(sandbox, apiuser="987654321")(headers)

    _, body = await post(http, sandbox, headers, new_challenge(sandbox))

    assert body["code"] == -1001


async def test_replayed_request_is_nonce_reused(
    sandbox: GridySandbox, http: aiohttp.ClientSession
) -> None:
    """Sending the very same signed request twice is -4034 the second time."""
    headers = signed_headers(sandbox)
    body = new_challenge(sandbox)

    first = await post(http, sandbox, headers, body)
    second = await post(http, sandbox, headers, body)

    assert (first[1]["code"], second[1]["code"]) == (2025, -4034)
    assert len(sandbox.challenges) == 1


async def test_same_millisecond_is_timestamp_reused(
    sandbox: GridySandbox, http: aiohttp.ClientSession
) -> None:
    """A new nonce with an already used utctime is -4035."""
    first = signed_headers(sandbox)
    cnonce = str(uuid.uuid4())
    utctime = first["x-gridy-utctime"]
    second = signed_headers(sandbox, **{"x-gridy-cnonce": cnonce})
    second["Authorization"] = authorization_header(
        sandbox.api_user, signature(sandbox.api_secret, utctime, cnonce)
    )
    second["x-gridy-utctime"] = utctime

    await post(http, sandbox, first, new_challenge(sandbox))
    _, body = await post(http, sandbox, second, new_challenge(sandbox))

    assert body["code"] == -4035


@pytest.mark.parametrize(
    ("skew_minutes", "accepted"), [(-16, False), (-14, True), (14, True), (16, False)]
)
async def test_clock_drift_tolerance(skew_minutes: int, accepted: bool) -> None:
    """Requests within 15 minutes of the sandbox clock pass; beyond it, -4036."""
    skew = skew_minutes * 60

    async with (
        GridySandbox(clock=lambda: time.time() + skew) as sandbox,
        sandbox.client(stamper=Stamper()) as gridy,  # on the real clock
    ):
        if accepted:
            assert (await gridy.send_challenge("ann@example.com")).challenge_id
        else:
            with pytest.raises(ClockDriftError) as caught:
                await gridy.send_challenge("ann@example.com")
            assert caught.value.code == -4036


BODY_CASES: list[tuple[str, bytes | None, dict[str, Any], int]] = [
    ("empty body", b"", {}, -5070),
    ("null body", b"null", {}, -5070),
    ("not JSON", b"{nope", {}, -5075),
    ("JSON array", b"[1, 2]", {}, -5071),
    ("no user", None, {"gridyUser": None}, -5077),
    ("bad e-mail", None, {"gridyUser": "ann@@example.com"}, -5079),
    ("e-mail too long", None, {"gridyUser": "a" * 120 + "@example.com"}, -5079),
    ("no challenge type", None, {"challengeType": None}, -5078),
    ("unknown challenge type", None, {"challengeType": "Telepathy"}, -5076),
    ("unknown expiry", None, {"challengeExpiry": "Forever"}, -5075),
    ("QR flag not boolean", None, {"enableQRCode": "yes"}, -5075),
    ("bad IPv4", None, {"ipAddress": "300.1.1.1"}, -5075),
    ("wrong status", None, {"status": "CANCEL"}, -5075),
]


@pytest.mark.parametrize(
    ("raw", "fields", "code"),
    [case[1:] for case in BODY_CASES],
    ids=[case[0] for case in BODY_CASES],
)
async def test_body_checks(
    sandbox: GridySandbox,
    http: aiohttp.ClientSession,
    raw: bytes | None,
    fields: dict[str, Any],
    code: int,
) -> None:
    """Each malformed envelope or challenge body gets its -507x code."""
    body = raw if raw is not None else new_challenge(sandbox, **fields)

    status, answer = await post(http, sandbox, signed_headers(sandbox), body)

    assert (status, answer["code"]) == (400, code)
    assert not sandbox.challenges


async def test_unknown_request_type(
    sandbox: GridySandbox, http: aiohttp.ClientSession
) -> None:
    """A request type the endpoint does not serve is -5072."""
    envelope = json.loads(new_challenge(sandbox))
    envelope["type"] = 170

    _, body = await post(
        http, sandbox, signed_headers(sandbox), json.dumps(envelope).encode()
    )

    assert body["code"] == -5072


@pytest.mark.parametrize("dialect", list(WireDialect))
async def test_send_and_cancel_in_each_dialect(
    sandbox: GridySandbox, dialect: WireDialect
) -> None:
    """The client sends and cancels in either dialect; the sandbox records both."""
    async with sandbox.client(dialect=dialect) as gridy:
        accepted = await gridy.send_challenge("Ann@Example.com", ref="order-1")
        cancelled = await gridy.cancel_challenge(
            accepted.challenge_id, "ann@example.com"
        )

    challenge = sandbox.challenges[accepted.challenge_id]
    assert challenge.ref == "order-1"
    assert sandbox.fate(challenge.challenge_id) is ChallengeFate.CANCELLED
    assert cancelled.status == "CANCELLED"
    spelled = "utcTime" if dialect is WireDialect.SDK else "utctime"
    assert spelled in accepted.raw


async def test_qr_code_is_a_png_served_at_its_url(
    sandbox: GridySandbox, client: GridyClient, http: aiohttp.ClientSession
) -> None:
    """The QR code comes back as PNG bytes, the same image its URL serves."""
    accepted = await client.send_challenge("ann@example.com")

    assert accepted.qr_code_png is not None
    assert accepted.qr_code_png.startswith(b"\x89PNG\r\n\x1a\n")
    assert accepted.qr_code_url is not None
    async with http.get(accepted.qr_code_url) as response:
        assert response.content_type == "image/png"
        assert await response.read() == accepted.qr_code_png


async def test_qr_code_left_out_when_not_asked(client: GridyClient) -> None:
    """With enable_qr_code=False only the QR URL comes back."""
    accepted = await client.send_challenge("ann@example.com", enable_qr_code=False)

    assert accepted.qr_code_png is None
    assert accepted.qr_code_url


async def test_cancel_twice_is_challenge_cancelled_error(client: GridyClient) -> None:
    """Cancelling an already cancelled challenge raises ChallengeCancelledError."""
    accepted = await client.send_challenge("ann@example.com")
    await client.cancel_challenge(accepted.challenge_id, "ann@example.com")

    with pytest.raises(ChallengeCancelledError) as caught:
        await client.cancel_challenge(accepted.challenge_id, "ann@example.com")

    assert (caught.value.code, caught.value.http_status) == (-2035, 400)
    assert caught.value.more_info == "https://support.gridy.io/error?code=-2035"


async def test_cancel_of_another_users_challenge_is_refused(
    client: GridyClient,
) -> None:
    """A challenge can only be cancelled together with the user it was sent to."""
    accepted = await client.send_challenge("ann@example.com")

    with pytest.raises(ChallengeCancelledError):
        await client.cancel_challenge(accepted.challenge_id, "bob@example.com")


async def test_wrong_secret_is_invalid_signature(sandbox: GridySandbox) -> None:
    """A client with the wrong secret gets InvalidSignatureError; nothing is made."""
    async with GridyClient(sandbox.api_user, "wrong", base_url=sandbox.url) as gridy:
        with pytest.raises(InvalidSignatureError):
            await gridy.send_challenge("ann@example.com")

    assert not sandbox.challenges


async def test_hundreds_of_concurrent_sends_never_collide(
    sandbox: GridySandbox,
) -> None:
    """Two clients of one API user sending at once never reuse a stamp."""
    users = [f"user{n}@example.com" for n in range(300)]

    async with sandbox.client() as first, sandbox.client() as second:
        results = await asyncio.gather(
            *(
                (first if n % 2 else second).send_challenge(user)
                for n, user in enumerate(users)
            )
        )

    assert len({r.challenge_id for r in results}) == len(users)
    assert all(r.code == 2025 for r in sandbox.requests)


async def test_internal_failure_is_internal_server_error(
    sandbox: GridySandbox, client: GridyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sandbox bug answers -5000 / HTTP 500, which the client raises as such."""

    def broken(content: str) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(gridy_async.testing._sandbox, "render_qr_png", broken)

    with pytest.raises(InternalServerError) as caught:
        await client.send_challenge("ann@example.com")

    assert (caught.value.http_status, caught.value.code) == (500, -5000)


async def test_borrowed_session_with_raise_for_status(sandbox: GridySandbox) -> None:
    """A session made with raise_for_status=True still yields API errors, and stays
    open after the client closes."""
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        gridy = sandbox.client(session=session)
        with pytest.raises(ChallengeCancelledError):
            await gridy.cancel_challenge("no-such-challenge", "ann@example.com")
        await gridy.aclose()

        assert not session.closed


async def test_received_requests_keep_their_headers(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """Each recorded request's headers read back case-insensitively."""
    await client.send_challenge("ann@example.com")

    (received,) = sandbox.requests_to("challenge")

    assert received.headers["X-GRIDY-APIUSER"] == sandbox.api_user
    assert received.headers["authorization"].startswith("gridy-hmac: ")
    assert received.user == "ann@example.com"
