"""One scenario per registry code: the sandbox produces it, the client maps it.

Every code in `gridy_async.all_codes()` has at least one scenario here, built
from the sandbox's public scripting API. The test runs it against a sandbox
on a `FakeClock` and checks that the sandbox answered that very code and that
the client returned, or raised, exactly the class the registry names.

Codes the client would never cause on its own (malformed headers, replays,
malformed bodies) are made by a borrowed aiohttp session whose middleware
rewrites the client's request on its way out, so even those answers go
through the client's own reading of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import attrs
import pytest
from test_sandbox import BODY_CASES, HEADER_CASES, PART_CASES, auth_with, new_challenge

from gridy_async import (
    ChallengeExpiry,
    GridyClient,
    ServerTime,
    Stamper,
    all_codes,
    authorization_header,
    lookup_code,
    signature,
)
from gridy_async.testing import ACCOUNT_STATES, API_USER_STATES, FakeClock, GridySandbox

USER = "ann@example.com"
OTHER_API_USER = "222333444"


@attrs.frozen
class Stage:
    """What a scenario plays on: a sandbox on a fake clock and a client of it."""

    sandbox: GridySandbox
    clock: FakeClock
    gridy: GridyClient


Scenario = Callable[[Stage], Awaitable[object]]
Edit = Callable[[Stage, aiohttp.ClientRequest], Awaitable[None]]


@attrs.frozen
class Case:
    """One way of making the sandbox answer ``code``."""

    code: int
    name: str
    run: Scenario
    http_status: int | None = None  # when not the registry's


CASES: list[Case] = []


def scenario(
    code: int, name: str, *, http_status: int | None = None
) -> Callable[[Scenario], Scenario]:
    """Register the decorated coroutine as a scenario for ``code``."""

    def register(run: Scenario) -> Scenario:
        CASES.append(Case(code, name, run, http_status))
        return run

    return register


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    """A sandbox on a fake clock, and a client stamping on that clock."""
    clock = FakeClock()
    async with GridySandbox(clock=clock) as sandbox, sandbox.client() as gridy:
        yield Stage(sandbox, clock, gridy)


def client_of(stage: Stage, api_user: str, api_secret: str) -> GridyClient:
    """A client of any API user, stamping on the sandbox's clock."""
    return GridyClient(
        api_user,
        api_secret,
        base_url=stage.sandbox.url,
        stamper=Stamper(clock=stage.clock),
    )


@asynccontextmanager
async def tampering(stage: Stage, edit: Edit) -> AsyncIterator[GridyClient]:
    """A client whose requests ``edit`` rewrites on their way to the sandbox."""

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        await edit(stage, request)
        return await handler(request)

    async with (
        aiohttp.ClientSession(middlewares=(middleware,)) as session,
        stage.sandbox.client(session=session) as gridy,
    ):
        yield gridy


async def send_tampered(stage: Stage, edit: Edit) -> object:
    """Send a challenge to USER through a client whose request ``edit`` rewrites."""
    async with tampering(stage, edit) as gridy:
        return await gridy.send_challenge(USER)


async def send_and_approve(stage: Stage) -> str:
    """Send USER a challenge and have them approve it; return its id."""
    accepted = await stage.gridy.send_challenge(USER)
    stage.sandbox.approve(accepted.challenge_id)
    return accepted.challenge_id


def auth_code(stage: Stage, challenge_id: str) -> str:
    """The code the user's app shows for a challenge."""
    return stage.sandbox.challenges[challenge_id].auth_code


# --- Successes ---------------------------------------------------------------


@scenario(2025, "send")
async def _send(stage: Stage) -> object:
    return await stage.gridy.send_challenge(USER)


@scenario(2028, "cancel")
async def _cancel(stage: Stage) -> object:
    accepted = await stage.gridy.send_challenge(USER)
    return await stage.gridy.cancel_challenge(accepted.challenge_id, USER)


@scenario(3080, "approve then verify")
async def _verify(stage: Stage) -> object:
    challenge_id = await send_and_approve(stage)
    code = auth_code(stage, challenge_id)
    return await stage.gridy.verify_challenge(challenge_id, USER, code)


@scenario(15000, "server time")
async def _server_time(stage: Stage) -> object:
    # Gridy answers whole seconds: at x.999 s the answer is 999 ms behind.
    stage.clock.advance(1.999 - stage.clock() % 1)
    answer = await stage.gridy.server_time()
    assert isinstance(answer, ServerTime)
    assert abs(answer.utctime - stage.clock() * 1000) < 1000
    return answer


# --- The API user --------------------------------------------------------------


@scenario(-1001, "unknown api user")
async def _unknown_api_user(stage: Stage) -> object:
    async with client_of(stage, "987654321", "any-secret") as stranger:
        return await stranger.send_challenge(USER)


@scenario(-1003, "second api user in validation error")
async def _api_user_invalid(stage: Stage) -> object:
    secret = stage.sandbox.add_api_user(OTHER_API_USER)
    stage.sandbox.set_api_user_state(-1003, api_user=OTHER_API_USER)
    await stage.gridy.send_challenge(USER)  # the sandbox's own user is in order

    async with client_of(stage, OTHER_API_USER, secret) as other:
        return await other.send_challenge(USER)


@scenario(-1026, "api user without permission")
async def _api_user_permission(stage: Stage) -> object:
    stage.sandbox.set_api_user_state(-1026)
    return await stage.gridy.send_challenge(USER)


@scenario(-1095, "auto-verify forbidden")
async def _auto_verify_disabled(stage: Stage) -> object:
    stage.sandbox.set_auto_verify(False)
    return await stage.gridy.send_challenge(USER, enable_auto_verify=True)


def _account_state(code: int) -> Scenario:
    async def run(stage: Stage) -> object:
        stage.sandbox.set_account_state(USER, code)
        return await stage.gridy.send_challenge(USER)

    return run


for _code in ACCOUNT_STATES:
    scenario(_code, "account state")(_account_state(_code))


# --- Challenges ----------------------------------------------------------------


@scenario(-2035, "cancel twice")
async def _cancel_twice(stage: Stage) -> object:
    accepted = await stage.gridy.send_challenge(USER)
    await stage.gridy.cancel_challenge(accepted.challenge_id, USER)
    return await stage.gridy.cancel_challenge(accepted.challenge_id, USER)


@scenario(-2035, "status after cancel")
async def _status_after_cancel(stage: Stage) -> object:
    accepted = await stage.gridy.send_challenge(USER)
    await stage.gridy.cancel_challenge(accepted.challenge_id, USER)
    return await stage.gridy.challenge_status(accepted.challenge_id, USER)


@scenario(-3081, "verify unknown challenge")
async def _verify_unknown(stage: Stage) -> object:
    return await stage.gridy.verify_challenge("no-such-challenge", USER, "123456")


@scenario(-3081, "status of unknown challenge", http_status=404)
async def _status_unknown(stage: Stage) -> object:
    return await stage.gridy.challenge_status("no-such-challenge", USER)


@scenario(-3082, "verify after expiry")
async def _verify_expired(stage: Stage) -> object:
    accepted = await stage.gridy.send_challenge(USER, expiry="ThreeMins")
    stage.clock.advance(ChallengeExpiry.THREE_MINS.seconds)
    code = auth_code(stage, accepted.challenge_id)
    return await stage.gridy.verify_challenge(accepted.challenge_id, USER, code)


@scenario(-3082, "status after expiry")
async def _status_expired(stage: Stage) -> object:
    accepted = await stage.gridy.send_challenge(USER, expiry="FiveMins")
    stage.clock.advance(ChallengeExpiry.FIVE_MINS.seconds + 1)
    return await stage.gridy.challenge_status(accepted.challenge_id, USER)


@scenario(-3087, "wrong auth code")
async def _wrong_code(stage: Stage) -> object:
    challenge_id = await send_and_approve(stage)
    wrong = f"{(int(auth_code(stage, challenge_id)) + 1) % 1_000_000:06d}"
    return await stage.gridy.verify_challenge(challenge_id, USER, wrong)


@scenario(-3088, "verify twice")
async def _verify_twice(stage: Stage) -> object:
    challenge_id = await send_and_approve(stage)
    code = auth_code(stage, challenge_id)
    await stage.gridy.verify_challenge(challenge_id, USER, code)
    return await stage.gridy.verify_challenge(challenge_id, USER, code)


@scenario(-3089, "verify an auto-verified challenge")
async def _verify_auto_verified(stage: Stage) -> object:
    stage.sandbox.script_user(USER, "approve", after=2)
    accepted = await stage.gridy.send_challenge(USER, enable_auto_verify=True)
    stage.clock.advance(2)
    code = auth_code(stage, accepted.challenge_id)
    return await stage.gridy.verify_challenge(accepted.challenge_id, USER, code)


@scenario(-3091, "verify before the user answers")
async def _verify_pending(stage: Stage) -> object:
    accepted = await stage.gridy.send_challenge(USER)
    code = auth_code(stage, accepted.challenge_id)
    return await stage.gridy.verify_challenge(accepted.challenge_id, USER, code)


@scenario(-3092, "verify a rejected challenge")
async def _verify_rejected(stage: Stage) -> object:
    accepted = await stage.gridy.send_challenge(USER)
    stage.sandbox.reject(accepted.challenge_id)
    code = auth_code(stage, accepted.challenge_id)
    return await stage.gridy.verify_challenge(accepted.challenge_id, USER, code)


@scenario(-3092, "status of a rejected challenge")
async def _status_rejected(stage: Stage) -> object:
    stage.sandbox.script_user(USER, "reject", after=4)
    accepted = await stage.gridy.send_challenge(USER)
    stage.clock.advance(4)
    return await stage.gridy.challenge_status(accepted.challenge_id, USER)


# --- Signature headers ---------------------------------------------------------


def _headers_changed(changes: Mapping[str, str | None]) -> Scenario:
    async def edit(stage: Stage, request: aiohttp.ClientRequest) -> None:
        for name, value in changes.items():
            request.headers.popall(name, None)
            if value is not None:
                request.headers[name] = value

    return lambda stage: send_tampered(stage, edit)


def _authorization_changed(parts: Mapping[str, str]) -> Scenario:
    async def edit(stage: Stage, request: aiohttp.ClientRequest) -> None:
        build = auth_with(stage.sandbox, **parts)
        request.headers["Authorization"] = build(dict(request.headers))

    return lambda stage: send_tampered(stage, edit)


for _name, _changes, _code in HEADER_CASES:
    scenario(_code, _name)(_headers_changed(_changes))
for _name, _parts, _code in PART_CASES:
    scenario(_code, _name)(_authorization_changed(_parts))


_SIGNED = ("Authorization", "x-gridy-utctime", "x-gridy-cnonce")


@scenario(-4034, "a request replayed")
async def _nonce_reused(stage: Stage) -> object:
    first: dict[str, str] = {}

    async def replay(stage: Stage, request: aiohttp.ClientRequest) -> None:
        if first:
            request.headers.update(first)
        else:
            first.update({name: request.headers[name] for name in _SIGNED})

    async with tampering(stage, replay) as gridy:
        await gridy.send_challenge(USER)
        try:
            return await gridy.send_challenge(USER)
        finally:
            stage.sandbox.assert_one_push(USER)


@scenario(-4035, "a timestamp used twice")
async def _timestamp_reused(stage: Stage) -> object:
    first: list[str] = []

    async def reuse_time(stage: Stage, request: aiohttp.ClientRequest) -> None:
        if not first:
            first.append(request.headers["x-gridy-utctime"])
            return
        utctime, cnonce = first[0], request.headers["x-gridy-cnonce"]
        mac = signature(stage.sandbox.api_secret, utctime, cnonce)
        request.headers["x-gridy-utctime"] = utctime
        request.headers["Authorization"] = authorization_header(
            stage.sandbox.api_user, mac
        )

    async with tampering(stage, reuse_time) as gridy:
        await gridy.send_challenge(USER)
        return await gridy.send_challenge(USER)


@scenario(-4036, "a client clock 16 minutes behind")
async def _clock_drift(stage: Stage) -> object:
    stage.clock.advance(16 * 60)
    async with stage.sandbox.client(stamper=Stamper()) as real_time:
        return await real_time.send_challenge(USER)


@scenario(-4037, "a wrong secret")
async def _wrong_secret(stage: Stage) -> object:
    async with client_of(stage, stage.sandbox.api_user, "wrong-secret") as wrong:
        return await wrong.send_challenge(USER)


# --- Request bodies ------------------------------------------------------------


def _body_replaced(raw: bytes | None, fields: Mapping[str, Any]) -> Scenario:
    async def edit(stage: Stage, request: aiohttp.ClientRequest) -> None:
        body = raw if raw is not None else new_challenge(stage.sandbox, **fields)
        await request.update_body(body)

    return lambda stage: send_tampered(stage, edit)


for _name, _raw, _fields, _code in BODY_CASES:
    scenario(_code, _name)(_body_replaced(_raw, _fields))


@scenario(-5072, "a verify request sent to the challenge endpoint")
async def _unknown_type(stage: Stage) -> object:
    async def retype(stage: Stage, request: aiohttp.ClientRequest) -> None:
        envelope = json.loads(new_challenge(stage.sandbox))
        envelope["type"] = 170
        await request.update_body(json.dumps(envelope).encode())

    return await send_tampered(stage, retype)


# --- Block rules and server failures --------------------------------------------


@scenario(-6021, "a blocked single address")
async def _blocked_address(stage: Stage) -> object:
    stage.sandbox.block("203.0.113.7")
    return await stage.gridy.send_challenge(USER, ip_address="203.0.113.7")


@scenario(-6021, "an address in a blocked range")
async def _blocked_range(stage: Stage) -> object:
    stage.sandbox.block("198.51.100.0/24")
    return await stage.gridy.send_challenge(USER, ip_address="198.51.100.77")


def _internal_error(code: int) -> Scenario:
    async def run(stage: Stage) -> object:
        stage.sandbox.inject("internal_error", code=code)
        return await stage.gridy.send_challenge(USER)

    return run


for _code in (-5000, 5000):
    scenario(_code, "internal error")(_internal_error(_code))


# --- The tests -----------------------------------------------------------------


def test_every_registry_code_has_a_scenario() -> None:
    """The scenarios cover every registry code and name no code outside it."""
    registered = sorted(info.code for info in all_codes())

    assert sorted({case.code for case in CASES}) == registered


def test_scripted_states_are_registry_codes() -> None:
    """Every account and API user state the sandbox offers is a registry code."""
    for code in (*ACCOUNT_STATES, *API_USER_STATES):
        assert lookup_code(code).name != "unknown", code


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{case.code}-{case.name.replace(' ', '-')}" for case in CASES]
)
async def test_code(stage: Stage, case: Case) -> None:
    """The sandbox answers the scenario with its code; the client maps it as listed."""
    info = lookup_code(case.code)

    if info.is_error:
        with pytest.raises(info.outcome) as caught:
            await case.run(stage)
        assert type(caught.value) is info.outcome
        assert caught.value.code == case.code
        assert caught.value.http_status == (case.http_status or info.http_status)
    else:
        result = await case.run(stage)
        assert type(result) is info.outcome

    assert stage.sandbox.requests[-1].code == case.code


async def test_stage_clock_is_the_sandbox_clock(stage: Stage) -> None:
    """Moving the stage's clock moves the sandbox's, without tripping drift."""
    before = stage.sandbox.clock()
    stage.clock.advance(3600)

    await stage.gridy.send_challenge(USER)

    assert stage.sandbox.clock() == before + 3600
    assert abs(stage.clock() - time.time()) > 3000
