"""`GridyMock`: canned Gridy answers over aioresponses, with every request checked.

The mock patches aiohttp (through aioresponses), so no server runs and no
socket opens. Tests program answers by operation and API code::

    with GridyMock() as mock:
        mock.reply("send_challenge", 2025)
        mock.reply("cancel_challenge", -2035)
        async with mock.client() as gridy:
            accepted = await gridy.send_challenge("ann@example.com")

Answers are built from the code registry (`lookup_code`): the HTTP status it
travels with and a message shaped like the sandbox's (a challenge id and QR
code for 2025, ``{"status": "CANCELLED"}`` for 2028, ``{"utc-time": ...}``
for 15000, Gridy's error text for errors), spelled in the dialect the request
was written in.

Every request is checked before it is answered: its Authorization header must
be exactly what `authorization_header` builds, its signature must be the one
computed from the request's own ``x-gridy-utctime`` and ``x-gridy-cnonce``
with the mock's secret, and no nonce or timestamp may repeat. A request that
fails a check, or arrives with no answer programmed, raises `AssertionError`
at the call and is kept in `GridyMock.problems`, so a test whose own code
swallows the error still fails when the mock is checked.

aioresponses (the ``aioresponses-ng`` distribution, in the ``test`` extra) is
imported only when a mock starts, so this module imports without it.
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import re
import secrets
import struct
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from .._client import BaseURL, GridyClient
from .._codes import lookup_code
from .._models import RequestType
from .._signing import authorization_header, signature

if TYPE_CHECKING:
    from aioresponses import aioresponses
    from aioresponses.core import CallbackResult
    from yarl import URL

__all__ = ["OPERATIONS", "GridyMock", "MockRequest"]


@attrs.frozen
class _Route:
    """Where an operation's requests go, and the code that means success."""

    method: str
    path: str
    success_code: int


# FACTS.md, "Endpoints". Send and cancel share one URL; the envelope's type
# (150 or 151) tells them apart.
_ROUTES: dict[str, _Route] = {
    "send_challenge": _Route("POST", "/v1/svc/challenge", 2025),
    "cancel_challenge": _Route("POST", "/v1/svc/challenge", 2028),
    "verify_challenge": _Route("POST", "/v1/svc/verify", 3080),
    "challenge_status": _Route("POST", "/v1/svc/status", 3080),
    "check_blocked": _Route("POST", "/v1/svc/blocked", 200),
    "server_time": _Route("GET", "/v1/svc/time", 15000),
}
OPERATIONS: tuple[str, ...] = tuple(_ROUTES)
"""The operation names `GridyMock.reply` takes, as `GridyClient` names them."""

# Let through by default: a sandbox on loopback is as hermetic as the mock.
_LOOPBACK = ("http://127.0.0.1:", "http://localhost:", "http://[::1]:")
_PENDING = 204  # challenge_status: HTTP 204, no body, while the user has not answered
_RATE_LIMITED = 429
_HTTP_REASON = {400: "BAD REQUEST", 404: "NOT FOUND", 500: "INTERNAL ERROR"}
_MORE_INFO = "https://support.gridy.io/{kind}?code={code}"
_AUTHORIZATION = re.compile(
    r"gridy-hmac: apiuser=(?P<apiuser>[^,]*),"
    r"signedheaders=x-gridy-utctime;x-gridy-cnonce,"
    r"algorithm=gridy-hmac512,signature=(?P<signature>[^,]*)"
)
_UUID4 = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


def _tiny_png() -> bytes:
    """A valid 1x1 grey PNG: a stand-in QR code that needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


QR_PNG = _tiny_png()
_QR_DATA_URL = "data:image/png;base64," + base64.b64encode(QR_PNG).decode("ascii")


@attrs.frozen
class MockRequest:
    """One request the mock intercepted, and what it answered.

    Attributes:
        operation: The operation, such as ``send_challenge``.
        method: The HTTP method.
        url: The full URL requested.
        headers: The request headers.
        body: The raw request body (empty for a GET).
        http_status: The HTTP status answered; None when no answer was sent
            (a failed check, nothing programmed, or an injected exception).
        answer: The JSON body answered, if there was one.
        problem: Why the request failed the mock's checks, if it did.
    """

    operation: str
    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    http_status: int | None = None
    answer: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    problem: str | None = None

    @property
    def envelope(self) -> dict[str, Any] | None:
        """The decoded JSON envelope, or None without a readable one."""
        return _json_object(self.body)

    @property
    def json(self) -> dict[str, Any]:
        """The decoded request body inside the envelope, in either dialect.

        The SDK dialect sends the body as a JSON document inside a string; it
        is decoded too. Empty when there is none (``server_time``).
        """
        return _inner_body(self.body)

    @property
    def user(self) -> str | None:
        """The Gridy user the body names, if any."""
        user = self.json.get("gridyUser")
        return user if isinstance(user, str) else None


def _json_object(raw: bytes | str) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _inner_body(raw: bytes) -> dict[str, Any]:
    """The body inside an envelope: nested (documented) or a string (SDK)."""
    body = (_json_object(raw) or {}).get("body")
    if isinstance(body, str):
        body = _json_object(body)
    return body if isinstance(body, dict) else {}


@attrs.define
class _Plan:
    """One programmed answer, and how many more times it may be given."""

    code: int
    http_status: int | None = None
    message: Any = None
    challenge_id: str | None = None
    retry_after: float | None = None
    raw: bytes | None = None
    exception: BaseException | None = None
    remaining: int | None = 1


class GridyMock:
    """Program Gridy's answers by operation and code; check every request.

    Args:
        api_user: The API user requests must be signed for.
        api_secret: The secret they must be signed with; random when None.
        base_url: The base URL to intercept, or None for any host and path
            prefix (requests are then told apart by their path alone).
        clock: Wall-clock seconds since the epoch, for answers' ``utctime``
            and the time endpoint; pass a `FakeClock` to pin it.
        passthrough: URL prefixes aiohttp may really reach while the mock
            runs. None lets loopback URLs through, so a `GridySandbox` works
            in the same test, unless the base URL is itself on loopback.
    """

    def __init__(
        self,
        *,
        api_user: str = "123456789",
        api_secret: str | None = None,
        base_url: str | None = BaseURL.LIVE,
        clock: Callable[[], float] = time.time,
        passthrough: Sequence[str] | None = None,
    ) -> None:
        self.api_user = api_user
        self.api_secret = api_secret or secrets.token_urlsafe(32)
        self.clock = clock
        self.requests: list[MockRequest] = []
        self.problems: list[str] = []

        self._base_url = None if base_url is None else base_url.rstrip("/")
        if passthrough is None:
            mocked = self._base_url or ""
            passthrough = [p for p in _LOOPBACK if not mocked.startswith(p)]
        self._passthrough = list(passthrough)
        self._plans: dict[str, list[_Plan]] = {name: [] for name in _ROUTES}
        self._nonces: set[str] = set()
        self._times: set[str] = set()
        self._patch: aioresponses | None = None

    def __repr__(self) -> str:
        return f"GridyMock(api_user={self.api_user!r}, base_url={self._base_url!r})"

    # --- Lifecycle -------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The base URL to give a client (the live one when any is mocked)."""
        return self._base_url or BaseURL.LIVE

    @property
    def started(self) -> bool:
        """Whether aiohttp is patched right now."""
        return self._patch is not None

    def start(self) -> None:
        """Patch aiohttp so requests to the base URL reach this mock.

        Raises:
            ImportError: aioresponses is not installed.
            RuntimeError: The mock is already started.
        """
        if self._patch is not None:
            raise RuntimeError("this GridyMock is already started")
        try:
            from aioresponses import aioresponses
        except ImportError as exc:
            raise ImportError(
                "GridyMock needs aioresponses (the aioresponses-ng distribution); "
                "install it with: pip install 'gridy_async[test]'"
            ) from exc

        patch = aioresponses(passthrough=self._passthrough)
        patch.start()
        for method, path in {(r.method, r.path) for r in _ROUTES.values()}:
            respond = functools.partial(self._respond, method, path)
            patch.add(
                self._url_matcher(path), method=method, callback=respond, repeat=True
            )
        self._patch = patch

    def stop(self) -> None:
        """Remove the patch. Programmed answers and records are kept."""
        if self._patch is not None:
            self._patch.stop()
        self._patch = None

    def __enter__(self) -> GridyMock:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        # An exception already on its way out says more than a summary would.
        if exc_type is None:
            self.check()

    def client(self, **options: Any) -> GridyClient:
        """Return a `GridyClient` that signs as the mock expects.

        Args:
            **options: Any other `GridyClient` keyword argument.
        """
        return GridyClient(
            self.api_user, self.api_secret, base_url=self.base_url, **options
        )

    def _url_matcher(self, path: str) -> str | re.Pattern[str]:
        if self._base_url is not None:
            return self._base_url + path
        return re.compile(r"https?://[^/?#]+(/[^?#]*)?" + re.escape(path) + r"$")

    # --- Programming -----------------------------------------------------

    def reply(
        self,
        operation: str,
        code: int | None = None,
        *,
        message: Any = None,
        http_status: int | None = None,
        challenge_id: str | None = None,
        retry_after: float | None = None,
        raw: bytes | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next request(s) of ``operation`` with ``code``.

        Answers of one operation are given in the order programmed.

        Args:
            operation: One of `OPERATIONS`.
            code: The API code; the operation's success code when None. Two
                HTTP statuses work as codes too: 204 for ``challenge_status``
                (no content: the user has not answered yet), and 429 for any
                operation (rate limited).
            message: The answer's ``message``, replacing the one built from
                the code.
            http_status: The HTTP status, replacing the registry's (the
                status endpoint answers an unknown challenge with 404). Codes
                the registry does not know travel with 400 when negative and
                200 otherwise.
            challenge_id: The challenge id a 2025 answer hands out; a new
                UUID for every answer when None.
            retry_after: Seconds for the ``Retry-After`` header of a 429.
            raw: Exact bytes to answer with instead of a JSON envelope (for
                broken answers); ``http_status`` defaults to 200.
            times: How many requests this answers; None for all from now on
                (answers programmed after it are then never reached).

        Raises:
            ValueError: Unknown operation, 204 for another operation, or
                times below 1.
        """
        route = self._route(operation)
        code = route.success_code if code is None else code
        if code == _PENDING and operation != "challenge_status":
            raise ValueError(
                "code 204 (no content: still pending) only answers challenge_status"
            )
        self._plan(
            operation,
            _Plan(
                code=code,
                http_status=http_status,
                message=message,
                challenge_id=challenge_id,
                retry_after=retry_after,
                raw=raw,
            ),
            times,
        )

    def fail(
        self, operation: str, exception: BaseException, *, times: int | None = 1
    ) -> None:
        """Make aiohttp raise ``exception`` for the next request(s) of ``operation``.

        For transport failures: ``aiohttp.ServerDisconnectedError()`` (the
        answer was lost), ``asyncio.TimeoutError()``, or
        ``aiohttp.ClientConnectorError(...)`` (never sent). The request is
        still checked and recorded first.

        Raises:
            ValueError: Unknown operation, or times below 1.
        """
        self._route(operation)
        self._plan(operation, _Plan(code=0, exception=exception), times)

    def _route(self, operation: str) -> _Route:
        route = _ROUTES.get(operation)
        if route is None:
            raise ValueError(
                f"unknown operation {operation!r}; use one of {', '.join(OPERATIONS)}"
            )
        return route

    def _plan(self, operation: str, plan: _Plan, times: int | None) -> None:
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for every request")
        plan.remaining = times
        self._plans[operation].append(plan)

    def _take(self, operation: str) -> _Plan | None:
        queue = self._plans[operation]
        if not queue:
            return None
        plan = queue[0]
        if plan.remaining is not None:
            plan.remaining -= 1
            if plan.remaining == 0:
                queue.pop(0)
        return plan

    # --- Inspection ------------------------------------------------------

    def requests_to(self, operation: str) -> list[MockRequest]:
        """Every request of ``operation``, oldest first."""
        self._route(operation)
        return [r for r in self.requests if r.operation == operation]

    def bodies(self, operation: str) -> list[dict[str, Any]]:
        """The decoded JSON body of every request of ``operation``, oldest first."""
        return [r.json for r in self.requests_to(operation)]

    def assert_one_push(self, user: str) -> MockRequest:
        """Assert exactly one challenge was sent to ``user``, and return its request.

        Raises:
            AssertionError: None or several were sent.
        """
        wanted = user.lower()
        sent = [
            r
            for r in self.requests_to("send_challenge")
            if (r.user or "").lower() == wanted
        ]
        if len(sent) != 1:
            raise AssertionError(
                f"expected exactly one send_challenge to {user}, found {len(sent)}"
            )
        return sent[0]

    def assert_all_used(self) -> None:
        """Assert every programmed answer with a finite ``times`` was given.

        Raises:
            AssertionError: Naming the operations with answers left over.
        """
        left = {
            operation: sum(plan.remaining or 0 for plan in queue)
            for operation, queue in self._plans.items()
        }
        left = {operation: n for operation, n in left.items() if n}
        if left:
            listed = ", ".join(f"{op} ({n})" for op, n in left.items())
            raise AssertionError(
                f"gridy_mock: programmed answers never given: {listed}"
            )

    def check(self) -> None:
        """Raise if any request was unsigned, signed wrong, or unexpected.

        Raises:
            AssertionError: Listing every problem seen.
        """
        if self.problems:
            raise AssertionError(_summary(self.problems))

    # --- Answering -------------------------------------------------------

    def _respond(
        self, method: str, path: str, url: URL, **kwargs: Any
    ) -> CallbackResult:
        """aioresponses' callback: check, record and answer one request."""
        # Keep this frame, whose arguments hold the signed headers, out of
        # pytest's tracebacks: the message says all there is to say.
        __tracebackhide__ = True
        from aioresponses.core import CallbackResult

        headers = CIMultiDict[str]((kwargs.get("headers") or {}).items())
        body = _body_bytes(kwargs)
        operation = _operation_of(path, body)
        number = len(self.requests) + 1

        problem = self._signing_problem(headers, body)
        plan = None if problem else self._take(operation)
        if plan is None:
            problem = problem or (
                f"no answer is programmed for {operation}; add one with "
                f"gridy_mock.reply({operation!r}, <code>)"
            )
            text = f"gridy_mock: request #{number} ({operation}, {method} {url}): "
            text += problem
            self._record(operation, method, url, headers, body, problem=text)
            self.problems.append(text)
            raise AssertionError(text)

        if plan.exception is not None:
            self._record(operation, method, url, headers, body)
            raise plan.exception
        status, payload, extra = self._render(plan, url, body)
        answer = _json_object(payload) if plan.raw is None else None
        self._record(operation, method, url, headers, body, status, answer)
        return CallbackResult(
            method=method,
            status=status,
            body=payload,
            headers=extra,
            content_type="application/json",
        )

    def _record(
        self,
        operation: str,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes,
        http_status: int | None = None,
        answer: Mapping[str, Any] | None = None,
        *,
        problem: str | None = None,
    ) -> None:
        self.requests.append(
            MockRequest(
                operation,
                method,
                str(url),
                CIMultiDictProxy(CIMultiDict(headers)),
                body,
                http_status,
                answer,
                problem,
            )
        )

    def _signing_problem(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """What is wrong with a request's signature headers, if anything.

        FACTS.md, "Signing": the Authorization header must be exactly
        ``authorization_header(api_user, signature(secret, utctime, cnonce))``
        over the request's own ``x-gridy-utctime`` and ``x-gridy-cnonce``.
        """
        given = headers.get("Authorization")
        if not given:
            return "unsigned: no Authorization header"
        utctime = headers.get("x-gridy-utctime")
        cnonce = headers.get("x-gridy-cnonce")
        if not utctime or not cnonce:
            return "x-gridy-utctime and x-gridy-cnonce must both be sent"
        if not (utctime.isascii() and utctime.isdigit()):
            return f"x-gridy-utctime must be epoch milliseconds, got {utctime[:20]!r}"
        if not _UUID4.fullmatch(cnonce):
            return f"x-gridy-cnonce must be a lower-case UUID4, got {cnonce[:40]!r}"
        if headers.get("x-gridy-apiuser") != self.api_user:
            return f"x-gridy-apiuser is not the mock's API user {self.api_user!r}"

        parts = _AUTHORIZATION.fullmatch(given)
        if parts is None:
            return (
                "the Authorization header is not 'gridy-hmac: apiuser=...,"
                "signedheaders=x-gridy-utctime;x-gridy-cnonce,"
                "algorithm=gridy-hmac512,signature=<128 hex>' exactly"
            )
        if parts["apiuser"] != self.api_user:
            return f"Authorization apiuser is not the mock's API user {self.api_user!r}"
        mac = parts["signature"]
        if not re.fullmatch(r"[0-9a-f]{128}", mac):
            return (
                f"the signature must be 128 lower-case hex characters (HMAC-SHA512), "
                f"got {len(mac)} characters"
            )
        expected = signature(self.api_secret, utctime, cnonce)
        if not hmac.compare_digest(mac, expected):
            return (
                "signed wrong: the signature is not HMAC-SHA512 over this request's "
                "own x-gridy-utctime and x-gridy-cnonce with the mock's secret "
                "(is the client using gridy_mock.api_secret?)"
            )
        # The exact form, spacing included, as Gridy's SDKs send it.
        if given != authorization_header(self.api_user, expected):
            return "the Authorization header differs from authorization_header()"

        envelope = _json_object(body) or {}
        envelope_user = envelope.get("apiUser", self.api_user)
        if str(envelope_user) != self.api_user:
            return "the envelope's apiUser differs from the signing API user"
        if cnonce in self._nonces:
            return f"nonce reused (Gridy answers -4034): {cnonce}"
        if utctime in self._times:
            return f"timestamp reused (Gridy answers -4035): {utctime}"
        self._nonces.add(cnonce)
        self._times.add(utctime)
        return None

    def _render(
        self, plan: _Plan, url: URL, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """The HTTP status, body and extra headers of one programmed answer."""
        if plan.raw is not None:
            return plan.http_status or 200, plan.raw, {}
        if plan.code == _PENDING:
            return plan.http_status or _PENDING, b"", {}
        if plan.code == _RATE_LIMITED:
            headers = {}
            if plan.retry_after is not None:
                headers["Retry-After"] = f"{plan.retry_after:g}"
            limited = {"status": _RATE_LIMITED, "message": "TOO MANY REQUESTS"}
            return plan.http_status or _RATE_LIMITED, _dumps(limited), headers

        info = lookup_code(plan.code)
        status = plan.http_status or info.http_status or (400 if plan.code < 0 else 200)
        message = plan.message
        if message is None:
            message = self._message(plan, status, url, body)
        sdk = b'"utcTime"' in body  # answer in the dialect asked in
        kind = "error" if info.is_error else "status"
        answer = {
            "id": uuid.uuid4().hex,
            "utcTime" if sdk else "utctime": int(self.clock() * 1000),
            "status": status,
            "code": plan.code,
            "message": message,
            "moreInfo" if sdk else "moreinfo": _MORE_INFO.format(
                kind=kind, code=plan.code
            ),
        }
        return status, _dumps(answer), {}

    def _message(self, plan: _Plan, status: int, url: URL, body: bytes) -> Any:
        """The message the sandbox would send with ``plan.code``."""
        request = _inner_body(body)
        code = plan.code
        if code == 2025:
            challenge_id = plan.challenge_id or str(uuid.uuid4())
            message = {
                "challengeId": challenge_id,
                "challengeQRcodeUrl": f"{url.origin()}/qr/{challenge_id}.png",
            }
            # The spec page's table spells the flag both ways; on by default.
            wants_qr = request.get("enableQRCode", request.get("enableQRcode", True))
            if wants_qr is not False:
                message["challengeQRcode"] = _QR_DATA_URL
            return message
        if code == 2028:
            return {"status": "CANCELLED"}
        if code == 3080:
            return {"challengeId": request.get("challengeId"), "status": "VERIFIED"}
        if code == 15000:
            # FACTS.md: the time endpoint answers in seconds, as text.
            return {"utc-time": str(int(self.clock()))}
        if code == 200:
            return {"blocked": False}
        info = lookup_code(code)
        if not info.is_error:
            return None
        return f"{_HTTP_REASON.get(status, 'ERROR')} :- {info.meaning.upper()}"


def _operation_of(path: str, body: bytes) -> str:
    """Which operation a request to ``path`` is.

    Sending and cancelling share a URL; the envelope's type tells them apart.
    """
    if path == _ROUTES["send_challenge"].path:
        kind = (_json_object(body) or {}).get("type")
        cancel = kind == RequestType.CHALLENGE_CANCEL
        return "cancel_challenge" if cancel else "send_challenge"
    return next(name for name, route in _ROUTES.items() if route.path == path)


def _body_bytes(kwargs: Mapping[str, Any]) -> bytes:
    data = kwargs.get("data")
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if kwargs.get("json") is not None:
        return _dumps(kwargs["json"])
    return b""


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _summary(problems: Iterable[str]) -> str:
    lines = list(problems)
    head = f"gridy_mock saw {len(lines)} bad request(s):"
    return "\n".join([head, *(f"  {line}" for line in lines)])
