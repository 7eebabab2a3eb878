"""A local Gridy API server: an aiohttp web app that checks what Gridy checks.

It runs in-process for tests (``async with GridySandbox() as sandbox``) and
as ``gridy-async sandbox --port N``. It answers in the dialect it was asked
in, so a client of either `WireDialect` sees the spelling it would see live.

Every request passes through the same steps, in this order: a fault planned
to strike before processing, the rate limit (429), the signature checks
(`_auth`), the API user's state, the envelope and body (`_envelope`), the
endpoint's own rules, then a fault planned to strike after processing.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import io
import ipaddress
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web
from multidict import CIMultiDict

from .._client import GridyClient
from .._codes import lookup_code
from .._models import RequestType, WireDialect
from .._stamps import Stamper
from ._auth import Rejection, ReplayGuard, authenticate
from ._console import add_console_routes
from ._envelope import (
    Envelope,
    parse_envelope,
    read_blocked,
    read_cancel,
    read_new_challenge,
    read_status,
    read_verify,
    sniff_dialect,
)
from ._faults import Fault, FaultKind, RateLimiter
from ._world import (
    Answer,
    ApiUserAccount,
    ChallengeFate,
    SandboxChallenge,
    UserScript,
)

__all__ = ["GridySandbox", "ReceivedRequest"]

logger = logging.getLogger("gridy_async.sandbox")

_CHALLENGE_TYPES = (RequestType.CHALLENGE_NEW, RequestType.CHALLENGE_CANCEL)
_UNSCRIPTED = UserScript()  # a user nobody scripted ignores the push
_MORE_INFO = "https://support.gridy.io/{kind}?code={code}"
_HTTP_REASON = {400: "BAD REQUEST", 404: "NOT FOUND", 500: "INTERNAL ERROR"}
_BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1></body></html>"
)
# The account states a Gridy user can be put in (the spec page's -20xx rows).
ACCOUNT_STATES = (-2003, -2004, -2005, -2006, -2007, -2008, -2009, -2010, -2017, -2038)
API_USER_STATES = (-1003, -1026)
ENDPOINTS = ("challenge", "status", "verify", "blocked", "time")

# The answer of one endpoint: code, message, and the HTTP status when it is
# not the registry's (HTTP 204 for a pending status, 404 for an unknown one).
Outcome = tuple[int, Any, int | None]
Handler = Callable[[str, "Envelope | None", web.Request], Awaitable[Outcome]]


@attrs.frozen
class ReceivedRequest:
    """One request as the sandbox received it, and how it was answered.

    Attributes:
        endpoint: ``challenge``, ``status``, ``verify``, ``time`` or ``blocked``.
        method: The HTTP method.
        raw_headers: The request's header lines as they arrived, joined by
            CRLF (one bytes object: cheap to keep by the thousand).
        body: The raw request body.
        code: The API code answered, or the HTTP status when there was none
            (429, 204, 502); 0 when the connection was dropped unanswered.
            A fault striking after processing leaves the code the sandbox
            decided on, whatever became of the answer.
        fault: The fault that struck it, if any.
    """

    endpoint: str
    method: str
    raw_headers: bytes
    body: bytes
    code: int
    fault: FaultKind | None = None

    @property
    def headers(self) -> CIMultiDict[str]:
        """The request headers, looked up case-insensitively."""
        # Decoded when asked for: the sandbox keeps thousands of requests,
        # and the raw pairs it already has cost nothing to keep.
        headers: CIMultiDict[str] = CIMultiDict()
        for line in self.raw_headers.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(": ")
            headers.add(name, value)
        return headers

    @property
    def user(self) -> str | None:
        """The Gridy user the body names, if any."""
        return _peek_user(self.body)


def render_qr_png(content: str) -> bytes:
    """Draw ``content`` as a QR code PNG (needs the ``sandbox`` extra: segno)."""
    import segno  # optional dependency: the sandbox extra

    buffer = io.BytesIO()
    # make_qr: segno.make picks a Micro QR for short content, which phones
    # rarely scan.
    segno.make_qr(content, error="m").save(buffer, kind="png", scale=4, border=4)
    return buffer.getvalue()


def _peek_user(raw: bytes) -> str | None:
    """The body's ``gridyUser`` in either dialect, read without any checks."""
    if b"gridyUser" not in raw:
        return None
    try:
        body = json.loads(raw).get("body")
        if isinstance(body, str):
            body = json.loads(body)
        user = body.get("gridyUser")
    except (ValueError, AttributeError):
        return None
    return user if isinstance(user, str) else None


class GridySandbox:
    """A faithful local stand-in for the Gridy API.

    Args:
        api_user: The 9-digit API user it accepts.
        api_secret: That user's secret; a random one when None.
        host: Where to listen.
        port: The port; 0 picks a free one.
        clock: Wall-clock seconds since the epoch, for drift checks and
            expiry; pass a `FakeClock` to move time in tests.
        rate_limit: Requests per minute per endpoint before HTTP 429; None
            for no limit (Gridy's free plan allows 200, paid plans 300).
        seed: Seeds the generator behind probabilistic faults.
        history: How many of the latest requests `requests` keeps; None keeps
            them all. Keeping records costs memory and, measurably, speed under
            load, so a long-running sandbox keeps only the latest.
    """

    def __init__(
        self,
        *,
        api_user: str = "123456789",
        api_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        rate_limit: int | None = None,
        seed: int | None = None,
        history: int | None = 1_000,
    ) -> None:
        self.api_user = api_user
        self.api_secret = api_secret or secrets.token_urlsafe(32)
        self.clock = clock
        self.challenges: dict[str, SandboxChallenge] = {}
        self.requests: collections.deque[ReceivedRequest] = collections.deque(
            maxlen=history
        )

        self._accounts = {api_user: ApiUserAccount(self.api_secret.encode())}
        self._secrets = {api_user: self.api_secret.encode()}
        self._account_states: dict[str, int] = {}
        self._scripts: dict[str, UserScript] = {}
        self._faults: list[Fault] = []
        self._counts: dict[str, int] = {}
        self._chance = random.Random(seed)
        self._limiter = RateLimiter(rate_limit) if rate_limit else None
        self._replays = ReplayGuard()
        # Clients made by client() stamp on the sandbox's clock, so moving a
        # FakeClock moves them too and never trips the drift check.
        self._stamper = Stamper(clock=clock)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self.app = self._make_app()

    def __repr__(self) -> str:
        return f"GridySandbox(api_user={self.api_user!r}, url={self._url!r})"

    # --- Lifecycle -------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to give a client, such as ``http://127.0.0.1:8080``."""
        if self._url is None:
            raise RuntimeError(
                "the sandbox is not running; use `async with` or start()"
            )
        return self._url

    async def start(self) -> None:
        """Start listening."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._host, self._port).start()
        except BaseException:
            await self.stop()  # the port is taken: leave nothing half-started
            raise
        host, port = self._runner.addresses[0][:2]
        host = f"[{host}]" if ":" in host else host
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._url = None

    async def __aenter__(self) -> GridySandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def client(self, **options: Any) -> GridyClient:
        """Return a `GridyClient` signed in as the sandbox's API user.

        Args:
            **options: Any other `GridyClient` keyword argument.
        """
        options.setdefault("stamper", self._stamper)
        return GridyClient(self.api_user, self.api_secret, base_url=self.url, **options)

    # --- Scripting -------------------------------------------------------

    def add_api_user(self, api_user: str, api_secret: str | None = None) -> str:
        """Accept another API user; return its secret (random when None)."""
        secret = api_secret or secrets.token_urlsafe(32)
        self._accounts[api_user] = ApiUserAccount(secret.encode())
        self._secrets[api_user] = secret.encode()
        return secret

    def _account(self, api_user: str | None) -> ApiUserAccount:
        return self._accounts[api_user or self.api_user]

    def set_api_user_state(
        self, code: int | None, *, api_user: str | None = None
    ) -> None:
        """Make every signed request of the API user fail with ``code``.

        Args:
            code: -1003 (validation error) or -1026 (permissions), or None to
                put the account back in order.
            api_user: Which API user; the sandbox's own by default.
        """
        if code is not None and code not in API_USER_STATES:
            raise ValueError(f"an API user state is one of {API_USER_STATES}")
        self._account(api_user).state = code

    def set_auto_verify(self, enabled: bool, *, api_user: str | None = None) -> None:
        """Allow or forbid auto-verify for the API user (forbidden: -1095)."""
        self._account(api_user).auto_verify = enabled

    def block(self, *rules: str, api_user: str | None = None) -> None:
        """Add block rules: single IPv4 addresses or CIDR ranges (-6021)."""
        networks = [ipaddress.IPv4Network(rule, strict=False) for rule in rules]
        self._account(api_user).block_rules.extend(networks)

    def set_account_state(self, user: str, code: int | None) -> None:
        """Put a Gridy user's account in a state that refuses challenges.

        Args:
            user: The e-mail address.
            code: One of `ACCOUNT_STATES` (-2003 ... -2038), or None.
        """
        if code is None:
            self._account_states.pop(user.lower(), None)
        elif code in ACCOUNT_STATES:
            self._account_states[user.lower()] = code
        else:
            raise ValueError(f"an account state is one of {ACCOUNT_STATES}")

    def script_user(
        self, user: str, answer: Answer | str, *, after: float = 0.0
    ) -> None:
        """Decide how ``user`` answers every challenge sent from now on.

        Args:
            user: The e-mail address.
            answer: ``approve``, ``reject`` or ``ignore``.
            after: Seconds on the sandbox clock between push and answer.
        """
        self._scripts[user.lower()] = UserScript(Answer(answer), after)

    def script_challenge(
        self, challenge_id: str, answer: Answer | str, *, after: float = 0.0
    ) -> None:
        """Decide how the user answers one challenge still pending.

        Raises:
            ValueError: The challenge is no longer pending.
        """
        self._pending(challenge_id).script = UserScript(Answer(answer), after)

    def approve(self, challenge_id: str) -> None:
        """Approve a pending challenge now, as the user's app would.

        Raises:
            ValueError: The challenge is no longer pending.
        """
        self._pending(challenge_id).answer(Answer.APPROVE, self.clock())

    def reject(self, challenge_id: str) -> None:
        """Reject a pending challenge now, as the user's app would.

        Raises:
            ValueError: The challenge is no longer pending.
        """
        self._pending(challenge_id).answer(Answer.REJECT, self.clock())

    def _pending(self, challenge_id: str) -> SandboxChallenge:
        # An answer once given (or an expiry) is history: the app cannot
        # change it, and neither can a test.
        challenge = self.challenges[challenge_id]
        fate = challenge.fate(self.clock())
        if fate is not ChallengeFate.PENDING:
            raise ValueError(f"challenge {challenge_id} is {fate.value}, not PENDING")
        return challenge

    def inject(
        self,
        kind: FaultKind | str,
        *,
        endpoint: str | None = None,
        on_request: int | None = None,
        user: str | None = None,
        probability: float | None = None,
        times: int | None = None,
        delay: float = 1.0,
        code: int = -5000,
    ) -> Fault:
        """Plan a fault; see `gridy_async.testing._faults` for the kinds.

        Returns:
            The fault, whose ``fired`` counts how often it struck.

        Raises:
            ValueError: An endpoint the sandbox does not serve, or an
                internal-error code other than -5000 and 5000.
        """
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}, not {endpoint!r}")
        if code not in (-5000, 5000):
            raise ValueError("an internal error's code is -5000 or 5000")
        fault = Fault(
            FaultKind(kind), endpoint, on_request, user, probability, times, delay, code
        )
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Forget every planned fault."""
        self._faults.clear()

    # --- Inspection ------------------------------------------------------

    def fate(self, challenge_id: str) -> ChallengeFate:
        """Where a challenge stands now, on the sandbox clock."""
        return self.challenges[challenge_id].fate(self.clock())

    def challenges_for(self, user: str) -> list[SandboxChallenge]:
        """Every challenge sent to ``user``, oldest first."""
        wanted = user.lower()
        return [c for c in self.challenges.values() if c.user.lower() == wanted]

    def requests_to(self, endpoint: str) -> list[ReceivedRequest]:
        """Every request received by ``endpoint`` (``challenge``, ``status``...)."""
        return [r for r in self.requests if r.endpoint == endpoint]

    def assert_one_push(self, user: str) -> SandboxChallenge:
        """Assert ``user`` got exactly one challenge, and return it.

        Raises:
            AssertionError: None or several were sent, with the details.
        """
        sent = self.challenges_for(user)
        if len(sent) != 1:
            ids = ", ".join(c.challenge_id for c in sent) or "none"
            raise AssertionError(
                f"expected exactly one push to {user}, found {len(sent)}: {ids}"
            )
        return sent[0]

    # --- The app ---------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application()
        routes: list[tuple[str, Handler, tuple[RequestType, ...]]] = [
            ("challenge", self._challenge, _CHALLENGE_TYPES),
            ("status", self._status, (RequestType.STATUS,)),
            ("verify", self._verify, (RequestType.VERIFY,)),
            ("blocked", self._blocked, (RequestType.BLOCKED,)),
            ("time", self._time, (RequestType.TIME,)),
        ]
        for name, handler, types in routes:
            endpoint = self._endpoint(name, handler, types)
            app.router.add_post(f"/v1/svc/{name}", endpoint)
        # The SDKs GET the time with no body; the docs POST type 990.
        time_get = self._endpoint("time", self._time, (), body=False)
        app.router.add_get("/v1/svc/time", time_get)
        app.router.add_get("/qr/{challenge_id}.png", self._qr_image)
        add_console_routes(app, self)
        return app

    def _answer(
        self,
        code: int,
        dialect: WireDialect,
        message: object = None,
        http_status: int | None = None,
    ) -> web.Response:
        info = lookup_code(code)
        status = http_status or info.http_status
        if message is None:
            reason = _HTTP_REASON.get(status, "ERROR")
            message = f"{reason} :- {info.meaning.upper()}"
        sdk = dialect is WireDialect.SDK
        kind = "error" if info.is_error else "status"
        body = {
            "id": secrets.token_hex(16),
            "utcTime" if sdk else "utctime": int(self.clock() * 1000),
            "status": status,
            "code": code,
            "message": message,
            "moreInfo" if sdk else "moreinfo": _MORE_INFO.format(kind=kind, code=code),
        }
        return web.json_response(body, status=status)

    def _endpoint(
        self,
        name: str,
        handler: Handler,
        types: Collection[RequestType],
        *,
        body: bool = True,
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            number = self._counts[name] = self._counts.get(name, 0) + 1
            fault = self._fault_for(name, number, raw) if self._faults else None
            if fault is not None and fault.kind.strikes_before:
                code, struck = self._strike_before(request, raw, fault)
                self._record(name, request, raw, code, fault)
                return struck

            code, response = await self._process(
                name, handler, types, request, raw, body
            )
            self._record(name, request, raw, code, fault)
            if fault is not None:
                return await self._strike_after(request, fault, response)
            return response

        return serve

    async def _process(
        self,
        name: str,
        handler: Handler,
        types: Collection[RequestType],
        request: web.Request,
        raw: bytes,
        with_body: bool,
    ) -> tuple[int, web.Response]:
        retry_after = self._limiter and self._limiter.retry_after(name, self.clock())
        if retry_after:
            response = web.json_response(
                {"status": 429, "message": "TOO MANY REQUESTS"}, status=429
            )
            response.headers["Retry-After"] = str(retry_after)
            return 429, response

        envelope = None
        try:
            api_user = self._authenticated(request)
            envelope = parse_envelope(raw, api_user, types) if with_body else None
            code, message, status = await handler(api_user, envelope, request)
        except Rejection as rejection:
            code, message, status = rejection.code, None, rejection.http_status
        except Exception:
            # A sandbox bug answers as Gridy's own internal error would.
            logger.exception("sandbox failed on %s", request.path)
            code, message, status = -5000, None, None

        # Answer in the dialect asked in; before the envelope was read, guess.
        dialect = envelope.dialect if envelope else sniff_dialect(raw)
        if status == 204:
            return 204, web.Response(status=204)
        return code, self._answer(code, dialect, message, status)

    def _authenticated(self, request: web.Request) -> str:
        now = int(self.clock() * 1000)
        api_user, utctime, cnonce = authenticate(request.headers, self._secrets, now)
        self._replays.check(api_user, utctime, cnonce, now)
        state = self._accounts[api_user].state
        if state is not None:
            raise Rejection(state, "API user state")
        return api_user

    def _record(
        self,
        name: str,
        request: web.Request,
        raw: bytes,
        code: int,
        fault: Fault | None,
    ) -> None:
        received = ReceivedRequest(
            name,
            request.method,
            b"\r\n".join(map(b": ".join, request.raw_headers)),
            raw,
            code,
            fault.kind if fault else None,
        )
        self.requests.append(received)

    # --- Faults ----------------------------------------------------------

    def _fault_for(self, name: str, number: int, raw: bytes) -> Fault | None:
        user = _peek_user(raw)
        for fault in self._faults:
            if fault.matches(name, number, user, self._chance):
                fault.fired += 1
                return fault
        return None

    def _strike_before(
        self, request: web.Request, raw: bytes, fault: Fault
    ) -> tuple[int, web.StreamResponse]:
        """The code to record (0: no answer at all) and what to send."""
        if fault.kind is FaultKind.INTERNAL_ERROR:
            answer = self._answer(fault.code, sniff_dialect(raw), http_status=500)
            return fault.code, answer
        if fault.kind is FaultKind.BAD_GATEWAY:
            page = web.Response(
                status=502, body=_BAD_GATEWAY_PAGE, content_type="text/html"
            )
            return 502, page
        return 0, _drop(request)

    async def _strike_after(
        self, request: web.Request, fault: Fault, response: web.Response
    ) -> web.StreamResponse:
        body = response.body if isinstance(response.body, bytes) else b""
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay)
            return response
        if fault.kind is FaultKind.TRUNCATED_JSON:
            return web.Response(
                status=response.status,
                body=body[: len(body) // 2],
                content_type="application/json",
            )
        if fault.kind is FaultKind.WRONG_CONTENT_TYPE:
            return web.Response(
                status=response.status, body=body, content_type="text/plain"
            )
        if fault.kind is FaultKind.EMPTY_BODY:
            return web.Response(status=response.status)
        return _drop(request)

    # --- Endpoints -------------------------------------------------------

    async def _challenge(
        self, api_user: str, envelope: Envelope | None, request: web.Request
    ) -> Outcome:
        assert envelope is not None
        if envelope.type is RequestType.CHALLENGE_CANCEL:
            return self._cancel(envelope)

        body = read_new_challenge(envelope.body)
        account = self._accounts[api_user]
        if body.enable_auto_verify and not account.auto_verify:
            raise Rejection(-1095, "auto-verify is off for this API user")
        self._check_user(body.gridy_user)
        if body.ip_address is not None and account.blocks(body.ip_address):
            raise Rejection(-6021, "a block rule covers the IP address")

        challenge = SandboxChallenge(
            challenge_id=str(uuid.uuid4()),
            user=body.gridy_user,
            challenge_type=body.challenge_type,
            expiry=body.challenge_expiry,
            created_at=self.clock(),
            script=self._scripts.get(body.gridy_user.lower(), _UNSCRIPTED),
            auto_verify=body.enable_auto_verify,
            ref=envelope.ref,
            ip_address=body.ip_address,
        )
        self.challenges[challenge.challenge_id] = challenge

        qr_url = f"{request.scheme}://{request.host}/qr/{challenge.challenge_id}.png"
        message = {"challengeId": challenge.challenge_id, "challengeQRcodeUrl": qr_url}
        if body.enable_qr_code:
            png = await self._qr_png(challenge)
            message["challengeQRcode"] = "data:image/png;base64," + _b64(png)
        return 2025, message, None

    def _check_user(self, user: str) -> None:
        state = self._account_states.get(user.lower())
        if state is not None:
            raise Rejection(state, "account state")

    def _find(
        self, challenge_id: str, user: str, missing: Rejection
    ) -> SandboxChallenge:
        challenge = self.challenges.get(challenge_id)
        if challenge is None or challenge.user.lower() != user.lower():
            raise missing
        return challenge

    def _cancel(self, envelope: Envelope) -> Outcome:
        body = read_cancel(envelope.body)
        nothing = Rejection(-2035, "no pending challenge with that id for that user")
        challenge = self._find(body.challenge_id, body.gridy_user, nothing)
        if challenge.fate(self.clock()) is not ChallengeFate.PENDING:
            raise nothing
        challenge.cancelled_at = self.clock()
        return 2028, {"status": "CANCELLED"}, None

    async def _status(
        self, api_user: str, envelope: Envelope | None, request: web.Request
    ) -> Outcome:
        assert envelope is not None
        body = read_status(envelope.body)
        unknown = Rejection(-3081, "no such challenge for that user", http_status=404)
        challenge = self._find(body.challenge_id, body.gridy_user, unknown)

        # FACTS.md: 200 when verified, 204 while there is nothing to report.
        fate = challenge.fate(self.clock())
        if fate is ChallengeFate.VERIFIED:
            message = {"challengeId": challenge.challenge_id, "status": "VERIFIED"}
            return 3080, message, 200
        if fate in (ChallengeFate.PENDING, ChallengeFate.APPROVED):
            return 0, None, 204
        raise Rejection(_FATE_CODES[fate], fate.value)

    async def _verify(
        self, api_user: str, envelope: Envelope | None, request: web.Request
    ) -> Outcome:
        assert envelope is not None
        body = read_verify(envelope.body)
        mismatch = Rejection(-3081, "no such challenge for that user")
        challenge = self._find(body.challenge_id, body.gridy_user, mismatch)

        fate = challenge.fate(self.clock())
        if fate is ChallengeFate.VERIFIED:
            raise Rejection(-3089 if challenge.auto_verify else -3088, "used")
        if fate is not ChallengeFate.APPROVED:
            raise Rejection(_FATE_CODES[fate], fate.value)
        if not secrets.compare_digest(body.auth_code, challenge.auth_code):
            raise Rejection(-3087, "wrong auth code")
        challenge.verified_at = self.clock()
        message = {"challengeId": challenge.challenge_id, "status": "VERIFIED"}
        return 3080, message, None

    async def _blocked(
        self, api_user: str, envelope: Envelope | None, request: web.Request
    ) -> Outcome:
        assert envelope is not None
        body = read_blocked(envelope.body)
        if self._accounts[api_user].blocks(body.ip_address):
            raise Rejection(-6021, "a block rule covers the IP address")
        # FACTS.md gives HTTP 200 and no code; the sandbox answers code 200.
        return 200, {"blocked": False}, 200

    async def _time(
        self, api_user: str, envelope: Envelope | None, request: web.Request
    ) -> Outcome:
        # FACTS.md: the real endpoint answers in seconds, not milliseconds.
        return 15000, {"utc-time": str(int(self.clock()))}, None

    # --- QR codes --------------------------------------------------------

    async def _qr_png(self, challenge: SandboxChallenge) -> bytes:
        if challenge.qr_code_png is None:
            # Drawing a QR code takes milliseconds of CPU: off the event loop,
            # so other requests are not held up behind it.
            content = f"GRIDY-CHALLENGE:{challenge.challenge_id}"
            challenge.qr_code_png = await asyncio.to_thread(render_qr_png, content)
        return challenge.qr_code_png

    async def _qr_image(self, request: web.Request) -> web.Response:
        challenge = self.challenges.get(request.match_info["challenge_id"])
        if challenge is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=await self._qr_png(challenge), content_type="image/png"
        )


_FATE_CODES = {
    ChallengeFate.PENDING: -3091,
    ChallengeFate.APPROVED: -3091,
    ChallengeFate.REJECTED: -3092,
    ChallengeFate.EXPIRED: -3082,
    ChallengeFate.CANCELLED: -2035,
}


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer."""
    assert request.transport is not None
    request.transport.abort()
    return web.Response(status=204)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
