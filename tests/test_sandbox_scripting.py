"""Scripted users, faults, rate limits and inspection, seen through the client.

The sandbox here runs on a `FakeClock`, so "the user answers after 30
seconds" and "the challenge expires" take no real time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import gridy_async.testing._sandbox
from gridy_async import (
    ChallengeAlreadyVerifiedError,
    ChallengeCancelledError,
    ChallengeExpiredError,
    ChallengeExpiry,
    ChallengeMismatchError,
    ChallengePendingError,
    ChallengeRejectedError,
    ChallengeState,
    ChallengeVerified,
    ConnectionLostError,
    GridyClient,
    GridyError,
    InternalServerError,
    InvalidResponseError,
    OutcomeUnknownError,
    RateLimitedError,
    RequestTimeoutError,
    TransportError,
    WireDialect,
    WrongAuthCodeError,
)
from gridy_async.testing import ChallengeFate, FakeClock, FaultKind, GridySandbox

USER = "ann@example.com"


@pytest.fixture
def clock() -> FakeClock:
    """A clock that only moves when told to."""
    return FakeClock()


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[GridySandbox]:
    """A sandbox on the fake clock (overrides conftest's; ``client`` follows)."""
    async with GridySandbox(clock=clock) as running:
        yield running


async def state_of(client: GridyClient, challenge_id: str) -> ChallengeState:
    """The state the status endpoint reports for a challenge sent to USER."""
    return (await client.challenge_status(challenge_id, USER)).state


def auth_code(sandbox: GridySandbox, challenge_id: str) -> str:
    """The code the user's app shows for a challenge."""
    return sandbox.challenges[challenge_id].auth_code


# --- Scripted users, through challenge_status -------------------------------------


async def test_approval_after_a_delay_turns_verified_with_auto_verify(
    sandbox: GridySandbox, client: GridyClient, clock: FakeClock
) -> None:
    """With auto-verify, a user approving after 30 s shows PENDING, then VERIFIED."""
    sandbox.script_user(USER, "approve", after=30)
    accepted = await client.send_challenge(USER, enable_auto_verify=True)

    assert await state_of(client, accepted.challenge_id) is ChallengeState.PENDING
    clock.advance(29)
    assert await state_of(client, accepted.challenge_id) is ChallengeState.PENDING
    clock.advance(1)
    status = await client.challenge_status(accepted.challenge_id, USER)

    assert status.state is ChallengeState.VERIFIED
    assert status.raw["code"] == 3080


async def test_approval_without_auto_verify_waits_for_verify(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """Without auto-verify an approved challenge stays PENDING until verified."""
    sandbox.script_user(USER, "approve")
    accepted = await client.send_challenge(USER)
    assert await state_of(client, accepted.challenge_id) is ChallengeState.PENDING

    code = auth_code(sandbox, accepted.challenge_id)
    await client.verify_challenge(accepted.challenge_id, USER, code)

    assert await state_of(client, accepted.challenge_id) is ChallengeState.VERIFIED


async def test_rejection_after_a_delay(
    sandbox: GridySandbox, client: GridyClient, clock: FakeClock
) -> None:
    """A user rejecting after 10 s shows PENDING, then ChallengeRejectedError."""
    sandbox.script_user(USER, "reject", after=10)
    accepted = await client.send_challenge(USER)
    assert await state_of(client, accepted.challenge_id) is ChallengeState.PENDING

    clock.advance(10)
    with pytest.raises(ChallengeRejectedError) as caught:
        await client.challenge_status(accepted.challenge_id, USER)

    assert caught.value.code == -3092


@pytest.mark.parametrize("expiry", list(ChallengeExpiry))
async def test_ignored_challenge_expires(
    sandbox: GridySandbox,
    client: GridyClient,
    clock: FakeClock,
    expiry: ChallengeExpiry,
) -> None:
    """An ignored challenge is PENDING to its last second, then expired."""
    sandbox.script_user(USER, "ignore")
    accepted = await client.send_challenge(USER, expiry=expiry)

    clock.advance(expiry.seconds - 1)
    assert await state_of(client, accepted.challenge_id) is ChallengeState.PENDING
    clock.advance(1)
    with pytest.raises(ChallengeExpiredError) as caught:
        await client.challenge_status(accepted.challenge_id, USER)

    assert caught.value.code == -3082


async def test_approval_later_than_expiry_is_expiry(
    sandbox: GridySandbox, client: GridyClient, clock: FakeClock
) -> None:
    """A user scripted to approve after the expiry never gets the challenge through."""
    sandbox.script_user(USER, "approve", after=ChallengeExpiry.THREE_MINS.seconds + 5)
    accepted = await client.send_challenge(USER, expiry="ThreeMins")

    clock.advance(ChallengeExpiry.THREE_MINS.seconds + 10)

    with pytest.raises(ChallengeExpiredError):
        await client.challenge_status(accepted.challenge_id, USER)


async def test_approving_an_expired_challenge_does_not_revive_it(
    sandbox: GridySandbox, client: GridyClient, clock: FakeClock
) -> None:
    """sandbox.approve() after the expiry is refused; the challenge stays expired."""
    accepted = await client.send_challenge(USER, expiry="FiveMins")
    clock.advance(ChallengeExpiry.FIVE_MINS.seconds)

    with pytest.raises(ValueError, match="EXPIRED"):
        sandbox.approve(accepted.challenge_id)

    assert sandbox.fate(accepted.challenge_id) is ChallengeFate.EXPIRED
    with pytest.raises(ChallengeExpiredError):
        await client.challenge_status(accepted.challenge_id, USER)


async def test_cancelled_challenge_status(client: GridyClient) -> None:
    """The status of a cancelled challenge is ChallengeCancelledError."""
    accepted = await client.send_challenge(USER)
    await client.cancel_challenge(accepted.challenge_id, USER)

    with pytest.raises(ChallengeCancelledError) as caught:
        await client.challenge_status(accepted.challenge_id, USER)

    assert caught.value.code == -2035


async def test_unknown_challenge_status_is_404(client: GridyClient) -> None:
    """The status of an unknown challenge id is ChallengeMismatchError, HTTP 404."""
    with pytest.raises(ChallengeMismatchError) as caught:
        await client.challenge_status("no-such-challenge", USER)

    assert (caught.value.http_status, caught.value.code) == (404, -3081)


async def test_status_names_the_user_too(client: GridyClient) -> None:
    """A real challenge id asked about for another user is unknown (404)."""
    accepted = await client.send_challenge(USER)

    with pytest.raises(ChallengeMismatchError) as caught:
        await client.challenge_status(accepted.challenge_id, "bob@example.com")

    assert caught.value.http_status == 404


async def test_approve_and_reject_now(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """approve() and reject() answer one challenge at once, as the app would."""
    first = await client.send_challenge(USER, enable_auto_verify=True)
    second = await client.send_challenge(USER)

    sandbox.approve(first.challenge_id)
    sandbox.reject(second.challenge_id)

    assert await state_of(client, first.challenge_id) is ChallengeState.VERIFIED
    with pytest.raises(ChallengeRejectedError):
        await client.challenge_status(second.challenge_id, USER)


async def test_script_challenge_overrides_the_user_script(
    sandbox: GridySandbox, client: GridyClient, clock: FakeClock
) -> None:
    """script_challenge() changes one challenge's answer, not the user's script."""
    sandbox.script_user(USER, "reject", after=10)
    chosen = await client.send_challenge(USER, enable_auto_verify=True)
    other = await client.send_challenge(USER, enable_auto_verify=True)

    sandbox.script_challenge(chosen.challenge_id, "approve", after=5)
    clock.advance(10)

    assert await state_of(client, chosen.challenge_id) is ChallengeState.VERIFIED
    with pytest.raises(ChallengeRejectedError):
        await client.challenge_status(other.challenge_id, USER)


async def test_script_user_applies_to_later_challenges_only(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """A user script set after a push leaves that push alone; e-mail case is ignored."""
    before = await client.send_challenge(USER, enable_auto_verify=True)
    sandbox.script_user("Ann@Example.COM", "approve")
    after = await client.send_challenge(USER, enable_auto_verify=True)

    assert await state_of(client, before.challenge_id) is ChallengeState.PENDING
    assert await state_of(client, after.challenge_id) is ChallengeState.VERIFIED


# --- Verify flows --------------------------------------------------------------


async def test_wrong_code_then_right_code(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """A wrong auth code is -3087 and leaves the challenge open for the right one."""
    sandbox.script_user(USER, "approve")
    accepted = await client.send_challenge(USER)
    code = auth_code(sandbox, accepted.challenge_id)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    with pytest.raises(WrongAuthCodeError) as caught:
        await client.verify_challenge(accepted.challenge_id, USER, wrong)
    verified = await client.verify_challenge(accepted.challenge_id, USER, code)

    assert caught.value.code == -3087
    assert verified == ChallengeVerified(
        accepted.challenge_id, server_id=verified.server_id, raw=verified.raw
    )


async def test_verify_while_pending_then_after_approval(
    sandbox: GridySandbox, client: GridyClient, clock: FakeClock
) -> None:
    """Verifying before the user answers is -3091; after approval it succeeds."""
    sandbox.script_user(USER, "approve", after=20)
    accepted = await client.send_challenge(USER)
    code = auth_code(sandbox, accepted.challenge_id)

    with pytest.raises(ChallengePendingError) as caught:
        await client.verify_challenge(accepted.challenge_id, USER, code)
    clock.advance(20)
    verified = await client.verify_challenge(accepted.challenge_id, USER, code)

    assert caught.value.code == -3091
    assert verified.challenge_id == accepted.challenge_id


async def test_verify_twice(sandbox: GridySandbox, client: GridyClient) -> None:
    """A second verify of the same challenge is -3088."""
    sandbox.script_user(USER, "approve")
    accepted = await client.send_challenge(USER)
    code = auth_code(sandbox, accepted.challenge_id)
    await client.verify_challenge(accepted.challenge_id, USER, code)

    with pytest.raises(ChallengeAlreadyVerifiedError) as caught:
        await client.verify_challenge(accepted.challenge_id, USER, code)

    assert caught.value.code == -3088


async def test_verify_after_auto_verify(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """Verifying a challenge Gridy already auto-verified is -3089."""
    sandbox.script_user(USER, "approve")
    accepted = await client.send_challenge(USER, enable_auto_verify=True)
    assert await state_of(client, accepted.challenge_id) is ChallengeState.VERIFIED

    code = auth_code(sandbox, accepted.challenge_id)
    with pytest.raises(ChallengeAlreadyVerifiedError) as caught:
        await client.verify_challenge(accepted.challenge_id, USER, code)

    assert caught.value.code == -3089


# --- Block rules -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "address", "blocked"),
    [
        ("203.0.113.7", "203.0.113.7", True),
        ("203.0.113.7", "203.0.113.8", False),
        ("198.51.100.0/24", "198.51.100.200", True),
        ("198.51.100.0/24", "198.51.101.1", False),
        ("10.0.0.0/8", "10.255.255.255", True),
    ],
)
async def test_check_blocked(
    sandbox: GridySandbox, client: GridyClient, rule: str, address: str, blocked: bool
) -> None:
    """check_blocked says True exactly when a single-IP or CIDR rule covers it."""
    sandbox.block(rule)

    check = await client.check_blocked(USER, address)

    assert (check.ip_address, check.blocked) == (address, blocked)
    assert sandbox.requests_to("blocked")[-1].code == (-6021 if blocked else 200)


async def test_check_blocked_without_rules(client: GridyClient) -> None:
    """With no block rules nothing is blocked."""
    assert not (await client.check_blocked(USER, "192.0.2.1")).blocked


# --- Rate limit -----------------------------------------------------------------


async def test_rate_limit_per_endpoint_per_minute(clock: FakeClock) -> None:
    """Request N+1 in a minute is 429 with Retry-After; a minute later it passes."""
    async with (
        GridySandbox(clock=clock, rate_limit=3) as sandbox,
        sandbox.client() as client,
    ):
        for _ in range(3):
            await client.server_time()
        with pytest.raises(RateLimitedError) as caught:
            await client.server_time()
        await client.send_challenge(USER)  # another endpoint, its own budget

        clock.advance(30)
        with pytest.raises(RateLimitedError) as later:
            await client.server_time()
        clock.advance(30)
        await client.server_time()

    assert (caught.value.http_status, caught.value.retry_after) == (429, 60)
    assert later.value.retry_after == 30
    assert [r.code for r in sandbox.requests_to("time")] == [
        *[15000] * 3,
        429,
        429,
        15000,
    ]


# --- Faults on send_challenge ------------------------------------------------------

# kind -> (what send_challenge raises, its __cause__, whether the challenge exists)
SEND_FAULTS: dict[
    FaultKind, tuple[type[GridyError] | None, type[GridyError] | None, bool]
] = {
    FaultKind.DROP_BEFORE: (OutcomeUnknownError, ConnectionLostError, False),
    FaultKind.DROP_AFTER: (OutcomeUnknownError, ConnectionLostError, True),
    FaultKind.INTERNAL_ERROR: (InternalServerError, None, False),
    FaultKind.BAD_GATEWAY: (OutcomeUnknownError, InvalidResponseError, False),
    FaultKind.TRUNCATED_JSON: (OutcomeUnknownError, InvalidResponseError, True),
    FaultKind.SLOW: (OutcomeUnknownError, RequestTimeoutError, True),
    FaultKind.WRONG_CONTENT_TYPE: (None, None, True),
    FaultKind.EMPTY_BODY: (OutcomeUnknownError, InvalidResponseError, True),
}


def test_fault_tables_cover_every_kind() -> None:
    """Both fault tables name every FaultKind, so a new kind needs a test."""
    assert set(SEND_FAULTS) == set(CANCEL_FAULTS) == set(FaultKind)


@pytest.mark.parametrize("kind", list(FaultKind), ids=lambda kind: kind.value)
async def test_fault_on_send(sandbox: GridySandbox, kind: FaultKind) -> None:
    """Each fault gives send_challenge its outcome, and the push exists or not."""
    raises, cause, exists = SEND_FAULTS[kind]
    sandbox.inject(kind, delay=0.3)

    async with sandbox.client(timeout=0.1 if kind is FaultKind.SLOW else 5) as client:
        if raises is None:
            accepted = await client.send_challenge(USER, enable_qr_code=False)
            assert sandbox.assert_one_push(USER).challenge_id == accepted.challenge_id
        else:
            with pytest.raises(raises) as caught:
                await client.send_challenge(USER, enable_qr_code=False)
            assert type(caught.value) is raises
            found = caught.value.__cause__
            assert (None if found is None else type(found)) is cause
            assert len(sandbox.challenges_for(USER)) == int(exists)


async def test_internal_error_on_send_keeps_its_code(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """An injected internal error is InternalServerError with HTTP 500 and -5000."""
    sandbox.inject("internal_error")

    with pytest.raises(InternalServerError) as caught:
        await client.send_challenge(USER)

    assert (caught.value.http_status, caught.value.code) == (500, -5000)


async def test_bad_gateway_cause_carries_502(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """A proxy's HTML 502 page is an unknown outcome caused by HTTP 502."""
    sandbox.inject("bad_gateway")

    with pytest.raises(OutcomeUnknownError) as caught:
        await client.send_challenge(USER)

    cause = caught.value.__cause__
    assert isinstance(cause, InvalidResponseError)
    assert cause.http_status == 502
    assert caught.value.operation == "send_challenge"


async def test_slow_answer_within_the_timeout_succeeds(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """A slow answer still arrives when the client's timeout is longer."""
    sandbox.inject("slow", delay=0.05)
    started = time.perf_counter()

    accepted = await client.send_challenge(USER)

    assert time.perf_counter() - started >= 0.05
    assert sandbox.assert_one_push(USER).challenge_id == accepted.challenge_id


@pytest.mark.parametrize("kind", [FaultKind.DROP_BEFORE, FaultKind.DROP_AFTER])
async def test_dropped_get_is_not_resent(
    sandbox: GridySandbox, client: GridyClient, kind: FaultKind
) -> None:
    """A dropped server_time (a GET) is ConnectionLostError, never resent as is."""
    sandbox.inject(kind, endpoint="time", times=1)

    with pytest.raises(ConnectionLostError):
        await client.server_time()
    assert len(sandbox.requests_to("time")) == 1

    await client.server_time()  # a fresh stamp goes through
    assert [r.code for r in sandbox.requests_to("time")][-1] == 15000


# --- Faults on cancel_challenge ----------------------------------------------------

# kind -> (what cancel_challenge raises, the challenge's fate afterwards)
CANCEL_FAULTS: dict[FaultKind, tuple[type[GridyError] | None, ChallengeFate]] = {
    FaultKind.DROP_BEFORE: (ConnectionLostError, ChallengeFate.PENDING),
    FaultKind.DROP_AFTER: (ConnectionLostError, ChallengeFate.CANCELLED),
    FaultKind.INTERNAL_ERROR: (InternalServerError, ChallengeFate.PENDING),
    FaultKind.BAD_GATEWAY: (InvalidResponseError, ChallengeFate.PENDING),
    FaultKind.TRUNCATED_JSON: (InvalidResponseError, ChallengeFate.CANCELLED),
    FaultKind.SLOW: (RequestTimeoutError, ChallengeFate.CANCELLED),
    FaultKind.WRONG_CONTENT_TYPE: (None, ChallengeFate.CANCELLED),
    FaultKind.EMPTY_BODY: (InvalidResponseError, ChallengeFate.CANCELLED),
}


@pytest.mark.parametrize("kind", list(FaultKind), ids=lambda kind: kind.value)
async def test_fault_on_cancel(
    sandbox: GridySandbox, client: GridyClient, kind: FaultKind
) -> None:
    """Cancel is safe to repeat, so a fault gives the transport error itself."""
    raises, fate = CANCEL_FAULTS[kind]
    accepted = await client.send_challenge(USER)
    sandbox.inject(kind, delay=0.3)

    async with sandbox.client(timeout=0.1 if kind is FaultKind.SLOW else 5) as other:
        if raises is None:
            await other.cancel_challenge(accepted.challenge_id, USER)
        else:
            with pytest.raises(raises) as caught:
                await other.cancel_challenge(accepted.challenge_id, USER)
            assert type(caught.value) is raises
            assert isinstance(caught.value, (TransportError, InternalServerError))

    assert sandbox.fate(accepted.challenge_id) is fate


# --- Fault matching ---------------------------------------------------------------


async def test_fault_on_the_nth_request_of_an_endpoint(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """on_request strikes only that request of that endpoint."""
    fault = sandbox.inject("internal_error", endpoint="challenge", on_request=2)

    first = await client.send_challenge(USER)
    await client.challenge_status(first.challenge_id, USER)  # another endpoint
    with pytest.raises(InternalServerError):
        await client.send_challenge(USER)
    await client.send_challenge(USER)

    assert fault.fired == 1
    assert [r.fault for r in sandbox.requests_to("challenge")] == [
        None,
        FaultKind.INTERNAL_ERROR,
        None,
    ]


async def test_fault_by_endpoint(sandbox: GridySandbox, client: GridyClient) -> None:
    """A fault for one endpoint leaves the others alone."""
    sandbox.inject("internal_error", endpoint="status")
    accepted = await client.send_challenge(USER)

    with pytest.raises(InternalServerError):
        await client.challenge_status(accepted.challenge_id, USER)


async def test_fault_by_user(sandbox: GridySandbox, client: GridyClient) -> None:
    """A fault for one Gridy user strikes only that user's requests, in any case."""
    fault = sandbox.inject("internal_error", user="bob@example.com")

    await client.send_challenge(USER)
    with pytest.raises(InternalServerError):
        await client.send_challenge("Bob@Example.com")

    assert fault.fired == 1
    assert [c.user for c in sandbox.challenges.values()] == [USER]


async def test_fault_times(sandbox: GridySandbox, client: GridyClient) -> None:
    """A fault with times=2 strikes twice, then never again."""
    fault = sandbox.inject("internal_error", times=2)

    outcomes = []
    for _ in range(4):
        try:
            await client.server_time()
        except InternalServerError:
            outcomes.append("error")
        else:
            outcomes.append("ok")

    assert outcomes == ["error", "error", "ok", "ok"]
    assert fault.fired == 2


async def failure_pattern(seed: int, requests: int = 24) -> list[bool]:
    """Which of ``requests`` calls a 50 % fault strikes, on a sandbox of ``seed``."""
    async with GridySandbox(seed=seed) as sandbox, sandbox.client() as client:
        fault = sandbox.inject("internal_error", probability=0.5)
        struck = []
        for _ in range(requests):
            try:
                await client.server_time()
            except InternalServerError:
                struck.append(True)
            else:
                struck.append(False)
    assert fault.fired == sum(struck)
    return struck


async def test_probability_fault_with_a_seed_repeats() -> None:
    """The same seed strikes the same requests; the pattern is really mixed."""
    first = await failure_pattern(seed=7)
    second = await failure_pattern(seed=7)

    assert first == second
    assert any(first)
    assert not all(first)


# --- Inspection -------------------------------------------------------------------


@pytest.mark.parametrize("dialect", list(WireDialect))
async def test_requests_to_and_user(
    sandbox: GridySandbox, dialect: WireDialect
) -> None:
    """requests_to() lists one endpoint's requests; .user reads either dialect."""
    async with sandbox.client(dialect=dialect) as client:
        accepted = await client.send_challenge(USER)
        await client.send_challenge("bob@example.com")
        await client.challenge_status(accepted.challenge_id, USER)
        await client.server_time()

    challenge = sandbox.requests_to("challenge")
    assert [r.user for r in challenge] == [USER, "bob@example.com"]
    assert [r.code for r in challenge] == [2025, 2025]
    assert [(r.user, r.code) for r in sandbox.requests_to("status")] == [(USER, 204)]
    [time_request] = sandbox.requests_to("time")
    assert (time_request.method, time_request.user) == ("GET", None)
    assert sandbox.requests_to("verify") == []


async def test_requests_record_faults_and_their_answers(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """A struck request records its fault and what was answered (0: nothing)."""
    sandbox.inject("internal_error", on_request=1, code=5000)
    sandbox.inject("bad_gateway", on_request=2)
    sandbox.inject("drop_before", on_request=3)
    sandbox.inject("drop_after", on_request=4)

    for _ in range(4):
        with pytest.raises(GridyError):
            await client.send_challenge(USER)

    recorded = [(r.fault, r.code) for r in sandbox.requests_to("challenge")]
    assert recorded == [
        (FaultKind.INTERNAL_ERROR, 5000),
        (FaultKind.BAD_GATEWAY, 502),
        (FaultKind.DROP_BEFORE, 0),
        (FaultKind.DROP_AFTER, 2025),
    ]


async def test_assert_one_push_passes(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """assert_one_push returns the one challenge a user got."""
    accepted = await client.send_challenge(USER)
    await client.send_challenge("bob@example.com")

    pushed = sandbox.assert_one_push("ANN@example.com")

    assert pushed.challenge_id == accepted.challenge_id


async def test_assert_one_push_fails_on_none(sandbox: GridySandbox) -> None:
    """With no push, assert_one_push says so and names the user."""
    with pytest.raises(AssertionError, match=r"one push to ann@example\.com, found 0"):
        sandbox.assert_one_push(USER)


async def test_assert_one_push_fails_on_two(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """With two pushes, assert_one_push lists both challenge ids."""
    first = await client.send_challenge(USER)
    second = await client.send_challenge(USER)

    with pytest.raises(AssertionError, match="found 2") as caught:
        sandbox.assert_one_push(USER)

    assert first.challenge_id in str(caught.value)
    assert second.challenge_id in str(caught.value)


# --- QR codes ---------------------------------------------------------------------


async def test_qr_rendering_does_not_stall_other_requests(
    sandbox: GridySandbox, client: GridyClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a QR code is drawn by a blocking call, 50 requests without one finish."""
    real_render = gridy_async.testing._sandbox.render_qr_png
    drawing, release = threading.Event(), threading.Event()

    def slow_render(content: str) -> bytes:
        # Blocks like CPU-bound drawing, until the other requests are done (at
        # least 200 ms, at most 2 s): no machine is too slow for the test.
        drawing.set()
        time.sleep(0.2)
        release.wait(timeout=2)
        return real_render(content)

    monkeypatch.setattr(gridy_async.testing._sandbox, "render_qr_png", slow_render)

    with_qr = asyncio.create_task(client.send_challenge(USER, enable_qr_code=True))
    try:
        for _ in range(2000):
            if drawing.is_set():
                break
            await asyncio.sleep(0.001)
        assert drawing.is_set()
        others = await asyncio.gather(
            *(
                client.send_challenge(f"user{n}@example.com", enable_qr_code=False)
                for n in range(50)
            )
        )
        assert not with_qr.done()
    finally:
        release.set()

    accepted = await with_qr
    assert accepted.qr_code_png is not None
    assert accepted.qr_code_png.startswith(b"\x89PNG")
    assert all(other.qr_code_png is None for other in others)


async def test_an_answer_once_given_cannot_be_rewritten(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """approve(), reject() and script_challenge() refuse an answered challenge."""
    accepted = await client.send_challenge(USER)
    challenge_id = accepted.challenge_id
    sandbox.reject(challenge_id)

    with pytest.raises(ValueError, match="REJECTED"):
        sandbox.approve(challenge_id)
    with pytest.raises(ValueError, match="REJECTED"):
        sandbox.reject(challenge_id)
    with pytest.raises(ValueError, match="REJECTED"):
        sandbox.script_challenge(challenge_id, "approve")

    assert sandbox.fate(accepted.challenge_id) is ChallengeFate.REJECTED


async def test_internal_error_faults_answer_http_500(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """An internal_error fault always travels with HTTP 500, in either spelling."""
    for code in (-5000, 5000):
        sandbox.inject("internal_error", code=code, times=1)
        with pytest.raises(InternalServerError) as caught:
            await client.cancel_challenge("no-such-id", USER)
        assert (caught.value.http_status, caught.value.code) == (500, code)


@pytest.mark.parametrize(
    "options", [{"endpoint": "challenges"}, {"code": -2004}, {"code": 5001}]
)
def test_faults_that_could_never_strike_are_refused(
    sandbox: GridySandbox, options: dict[str, Any]
) -> None:
    """An unknown endpoint or a non-internal code is a ValueError at inject()."""
    with pytest.raises(ValueError, match=r"endpoint must be|code is -5000"):
        sandbox.inject("internal_error", **options)
