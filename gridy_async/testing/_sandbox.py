"""A local Gridy API server: an aiohttp web app that checks what Gridy checks.

It runs in-process for tests (``async with GridySandbox() as sandbox``) and
as ``gridy-async sandbox --port N``. It answers in the dialect it was asked
in, so a client of either `WireDialect` sees the spelling it would see live.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web

from .._client import GridyClient
from .._codes import lookup_code
from .._models import (
    ChallengeExpiry,
    ChallengeType,
    RequestType,
    WireDialect,
)
from ._auth import Rejection, ReplayGuard, authenticate
from ._envelope import (
    Envelope,
    parse_envelope,
    read_cancel,
    read_new_challenge,
    sniff_dialect,
)

__all__ = ["GridySandbox", "ReceivedRequest", "SandboxChallenge"]

logger = logging.getLogger("gridy_async.sandbox")

_CHALLENGE_TYPES = (RequestType.CHALLENGE_NEW, RequestType.CHALLENGE_CANCEL)
_MORE_INFO = "https://support.gridy.io/{kind}?code={code}"
# Error texts in the style of the spec page's -2035 example.
_HTTP_REASON = {400: "BAD REQUEST", 500: "INTERNAL ERROR"}


@attrs.define
class SandboxChallenge:
    """A challenge the sandbox created, and what became of it.

    Attributes:
        challenge_id: The id handed to the client.
        user: The Gridy user it was sent to.
        challenge_type: What the user was asked to do.
        expiry: How long it stays open.
        created_at: The sandbox clock's reading at creation, in seconds.
        state: ``"PENDING"`` or ``"CANCELLED"``.
        ref: The caller's reference, if any.
        ip_address: The user IP the caller gave, if any.
        qr_code_png: The QR code image.
    """

    challenge_id: str
    user: str
    challenge_type: ChallengeType
    expiry: ChallengeExpiry
    created_at: float
    state: str = "PENDING"
    ref: str | None = None
    ip_address: str | None = None
    qr_code_png: bytes | None = attrs.field(default=None, repr=False)


@attrs.frozen
class ReceivedRequest:
    """One request as the sandbox received it, and the code it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    code: int


def render_qr_png(content: str) -> bytes:
    """Draw ``content`` as a QR code PNG (needs the ``sandbox`` extra: segno)."""
    import segno  # optional dependency: the sandbox extra

    buffer = io.BytesIO()
    segno.make(content, error="m").save(buffer, kind="png", scale=4, border=4)
    return buffer.getvalue()


class GridySandbox:
    """A faithful local stand-in for the Gridy API.

    Args:
        api_user: The 9-digit API user it accepts.
        api_secret: That user's secret; a random one when None.
        host: Where to listen.
        port: The port; 0 picks a free one.
        clock: Wall-clock seconds since the epoch; inject one to move time.
    """

    def __init__(
        self,
        *,
        api_user: str = "123456789",
        api_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_user = api_user
        self.api_secret = api_secret or secrets.token_urlsafe(32)
        self._secrets = {api_user: self.api_secret.encode()}
        self._host = host
        self._port = port
        self._clock = clock
        self._replays = ReplayGuard()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self.challenges: dict[str, SandboxChallenge] = {}
        self.requests: list[ReceivedRequest] = []
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
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
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
        return GridyClient(self.api_user, self.api_secret, base_url=self.url, **options)

    # --- Inspection ------------------------------------------------------

    def challenges_for(self, user: str) -> list[SandboxChallenge]:
        """Every challenge sent to ``user``, oldest first."""
        wanted = user.lower()
        return [c for c in self.challenges.values() if c.user.lower() == wanted]

    # --- The app ---------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._internal_errors])
        app.router.add_post("/v1/svc/challenge", self._challenge)
        app.router.add_get("/qr/{challenge_id}.png", self._qr_image)
        return app

    @web.middleware
    async def _internal_errors(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Any],
    ) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            logger.exception("sandbox failed on %s", request.path)
            return self._answer(-5000, WireDialect.DOCUMENTED)
        return response

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _answer(
        self, code: int, dialect: WireDialect, message: object = None
    ) -> web.Response:
        info = lookup_code(code)
        if message is None:
            reason = _HTTP_REASON.get(info.http_status, "ERROR")
            message = f"{reason} :- {info.meaning.upper()}"
        kind = "error" if info.is_error else "status"
        sdk = dialect is WireDialect.SDK
        body = {
            "id": uuid.uuid4().hex,
            "utcTime" if sdk else "utctime": self._now_ms(),
            "status": info.http_status,
            "code": code,
            "message": message,
            "moreInfo" if sdk else "moreinfo": _MORE_INFO.format(kind=kind, code=code),
        }
        return web.json_response(body, status=info.http_status)

    async def _authenticated(self, request: web.Request) -> tuple[str, bytes]:
        raw = await request.read()
        now = self._now_ms()
        api_user, utctime, cnonce = authenticate(request.headers, self._secrets, now)
        self._replays.check(api_user, utctime, cnonce, now)
        return api_user, raw

    def _record(self, request: web.Request, raw: bytes, code: int) -> None:
        self.requests.append(
            ReceivedRequest(request.path, dict(request.headers), raw, code)
        )

    async def _challenge(self, request: web.Request) -> web.Response:
        raw = b""
        message: dict[str, str] | None
        try:
            api_user, raw = await self._authenticated(request)
            envelope = parse_envelope(raw, api_user, _CHALLENGE_TYPES)
            dialect = envelope.dialect
            if envelope.type is RequestType.CHALLENGE_NEW:
                code, message = 2025, await self._new_challenge(request, envelope)
            else:
                code, message = 2028, self._cancel(envelope)
        except Rejection as rejection:
            code, message, dialect = rejection.code, None, sniff_dialect(raw)

        self._record(request, raw, code)
        return self._answer(code, dialect, message)

    async def _new_challenge(
        self, request: web.Request, envelope: Envelope
    ) -> dict[str, str]:
        body = read_new_challenge(envelope.body)
        challenge = SandboxChallenge(
            challenge_id=str(uuid.uuid4()),
            user=body.gridy_user,
            challenge_type=body.challenge_type,
            expiry=body.challenge_expiry,
            created_at=self._clock(),
            ref=envelope.ref,
            ip_address=body.ip_address,
        )
        self.challenges[challenge.challenge_id] = challenge

        qr_url = f"{request.url.origin()}/qr/{challenge.challenge_id}.png"
        message = {
            "challengeId": challenge.challenge_id,
            "challengeQRcodeUrl": qr_url,
        }
        if body.enable_qr_code:
            png = await self._qr_png(challenge)
            message["challengeQRcode"] = "data:image/png;base64," + _b64(png)
        return message

    def _cancel(self, envelope: Envelope) -> dict[str, str]:
        body = read_cancel(envelope.body)
        challenge = self.challenges.get(body.challenge_id)
        if (
            challenge is None
            or challenge.user.lower() != body.gridy_user.lower()
            or challenge.state != "PENDING"
        ):
            raise Rejection(-2035, "no pending challenge with that id for that user")
        challenge.state = "CANCELLED"
        return {"status": "CANCELLED"}

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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
