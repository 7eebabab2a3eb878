"""The async client: validate, stamp, sign, send, read, look up, return or raise."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import sys
import time
import urllib.parse
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._codes import lookup_code
from ._errors import (
    ApiError,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    DecodeError,
    IPBlockedError,
    OutcomeUnknownError,
    RateLimitedError,
    TransportError,
    UnknownCodeError,
    ValidationError,
)
from ._models import (
    ApiRequest,
    ApiResponse,
    BlockCheck,
    BlockedQuery,
    CancelChallenge,
    ChallengeAccepted,
    ChallengeCancelled,
    ChallengeExpiry,
    ChallengeStatus,
    ChallengeType,
    ChallengeVerified,
    NewChallenge,
    RequestBody,
    RequestType,
    ServerTime,
    StatusQuery,
    VerifyChallenge,
    VerifyType,
    WireDialect,
)
from ._signing import authorization_header, signature
from ._stamps import Stamp, Stamper
from ._transport import RawResponse, Transport
from ._validation import (
    check_challenge_id,
    check_credential,
    check_email,
    check_enum,
    check_ipv4,
    check_ref,
    check_text,
)
from ._version import __version__
from ._wire import (
    decode_response,
    encode_request,
    read_challenge_accepted,
    read_challenge_cancelled,
    read_challenge_status,
    read_challenge_verified,
    read_server_time,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["BaseURL", "GridyClient"]

logger = logging.getLogger("gridy_async")


class BaseURL:
    """Named base URLs. Sources disagree (FACTS.md, "Endpoints"), so all are here."""

    LIVE: Final = "https://api.gridy.io"
    """Live, as Gridy's docs give it. The default."""
    UAT: Final = "https://uat.gridy.io"
    """Test environment, as Gridy's docs give it."""
    SDK_LIVE: Final = "https://api.gridy.io/prod"
    """Live, as Gridy's SDK code gives it."""
    SDK_UAT: Final = "https://api.gridy.io/uat"
    """Test environment, as Gridy's SDK code gives it."""


@attrs.frozen(kw_only=True)
class _Operation:
    """One kind of call: where it goes and how to treat its answers."""

    name: str
    path: str
    request_type: RequestType
    success_code: int
    method: str = "POST"
    # A lost answer to an operation that creates something (a push) cannot be
    # retried blindly; the caller gets OutcomeUnknownError instead.
    creates: bool = False
    # The status endpoint answers HTTP 204 with no body while nothing changed.
    no_content_ok: bool = False


# FACTS.md, "Endpoints".
_SEND = _Operation(
    name="send_challenge",
    path="/v1/svc/challenge",
    request_type=RequestType.CHALLENGE_NEW,
    success_code=2025,
    creates=True,
)
_CANCEL = _Operation(
    name="cancel_challenge",
    path="/v1/svc/challenge",
    request_type=RequestType.CHALLENGE_CANCEL,
    success_code=2028,
)
_VERIFY = _Operation(
    name="verify_challenge",
    path="/v1/svc/verify",
    request_type=RequestType.VERIFY,
    success_code=3080,
)
_STATUS = _Operation(
    name="challenge_status",
    path="/v1/svc/status",
    request_type=RequestType.STATUS,
    success_code=3080,
    no_content_ok=True,
)
# The SDKs GET the time with no body; the docs' POST of type 990 is not used.
_TIME = _Operation(
    name="server_time",
    path="/v1/svc/time",
    request_type=RequestType.TIME,
    success_code=15000,
    method="GET",
)
# FACTS.md gives the block check an HTTP 200 but no success code of its own.
_BLOCKED = _Operation(
    name="check_blocked",
    path="/v1/svc/blocked",
    request_type=RequestType.BLOCKED,
    success_code=200,
)

# The spec gives no limit for a profile name; this one only stops accidents.
MAX_PROFILE_LENGTH = 255

_USER_AGENT = (
    f"gridy_async/{__version__} Python/{sys.version_info[0]}.{sys.version_info[1]}"
)
_JSON = "application/json; charset=utf-8"


class _Secret:
    """Holds the API secret; its repr never shows it."""

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"


def _check_base_url(base_url: object, *, allow_insecure_http: bool) -> str:
    if not isinstance(base_url, str):
        raise ConfigurationError(
            f"base_url must be text, got {type(base_url).__name__}"
        )
    try:
        parts = urllib.parse.urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise ConfigurationError(f"base_url {base_url!r} is malformed: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"base_url {base_url!r} is not an http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            f"base_url {parts.scheme}://{parts.hostname}... may not carry a query, "
            "a fragment or credentials; give the API user and secret separately"
        )
    if parts.scheme == "http" and not allow_insecure_http:
        host = parts.hostname
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConfigurationError(
                f"base_url {base_url!r} is plain http to a remote host, which "
                "would expose every signed request; use https, or pass "
                "allow_insecure_http=True if you really mean it"
            )
    return base_url.rstrip("/")


def _check_seconds(name: str, value: object) -> None:
    # Never None: a call without a time limit could hang a request handler.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value < float("inf")
    ):
        raise ConfigurationError(f"{name} must be a positive number of seconds")


def _mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


class GridyClient:
    """An asyncio client for the Gridy ID API.

    Use it as an async context manager, or call :meth:`aclose` when done::

        async with GridyClient.from_env() as gridy:
            accepted = await gridy.send_challenge("ann@example.com")

    Args:
        api_user: Your Gridy API user id.
        api_secret: Your Gridy API secret, as text or bytes.
        base_url: Where the API lives; see `BaseURL` for named choices.
        session: An aiohttp session to use. It is never closed by the client
            and may have been created with ``raise_for_status=True``.
        dialect: How requests are spelled on the wire (`WireDialect`).
        timeout: Seconds one HTTP exchange may take, connecting included.
        connect_timeout: Seconds getting a connection may take.
        stamper: Where stamps come from; by default the process-wide stamper
            of ``api_user``, so clients of one API user never collide.
        allow_insecure_http: Permit a plain-http base URL to a non-loopback host.

    Raises:
        ValidationError: ``api_user`` or ``api_secret`` is empty or contains
            whitespace or control characters.
        ConfigurationError: ``base_url`` is unusable or unsafe.
    """

    def __init__(
        self,
        api_user: str,
        api_secret: str | bytes,
        *,
        base_url: str = BaseURL.LIVE,
        session: aiohttp.ClientSession | None = None,
        dialect: WireDialect | str = WireDialect.DOCUMENTED,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        stamper: Stamper | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        self._api_user = str(check_credential("api_user", api_user))
        secret = check_credential("api_secret", api_secret, secret=True)
        self._secret = _Secret(secret.encode() if isinstance(secret, str) else secret)
        self._base_url = _check_base_url(
            base_url, allow_insecure_http=allow_insecure_http
        )
        try:
            self._dialect = check_enum(WireDialect, dialect, "dialect")
        except ValidationError as exc:
            raise ConfigurationError(str(exc)) from None
        _check_seconds("timeout", timeout)
        _check_seconds("connect_timeout", connect_timeout)
        if stamper is not None and not isinstance(stamper, Stamper):
            raise ConfigurationError(
                f"stamper must be a Stamper, got {type(stamper).__name__}"
            )

        self._stamper = stamper if stamper is not None else Stamper.shared(api_user)
        self._transport = Transport(
            session=session, timeout=timeout, connect_timeout=connect_timeout
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Any
    ) -> GridyClient:
        """Build a client from ``GRIDY_API_USER``, ``GRIDY_API_SECRET`` and
        ``GRIDY_BASE_URL`` (optional).

        Args:
            environ: Where to read the variables; `os.environ` by default.
            **options: Any other `GridyClient` keyword argument.

        Raises:
            ConfigurationError: A required variable is missing or empty.
        """
        env = os.environ if environ is None else environ
        missing = [n for n in ("GRIDY_API_USER", "GRIDY_API_SECRET") if not env.get(n)]
        if missing:
            raise ConfigurationError(
                f"set {' and '.join(missing)} to your Gridy API credentials"
            )
        if env.get("GRIDY_BASE_URL"):
            options.setdefault("base_url", env["GRIDY_BASE_URL"])
        return cls(env["GRIDY_API_USER"], env["GRIDY_API_SECRET"], **options)

    def __repr__(self) -> str:
        return f"GridyClient(api_user={self._api_user!r}, base_url={self._base_url!r})"

    @property
    def api_user(self) -> str:
        """The API user this client signs for."""
        return self._api_user

    @property
    def base_url(self) -> str:
        """The base URL requests go to, without a trailing slash."""
        return self._base_url

    @property
    def stamper(self) -> Stamper:
        """The stamper this client's requests are stamped by."""
        return self._stamper

    async def __aenter__(self) -> GridyClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the client's session (a borrowed session stays open)."""
        await self._transport.aclose()

    async def send_challenge(
        self,
        user: str,
        *,
        challenge_type: ChallengeType | str = ChallengeType.USER_KEY_AND_PATTERN,
        expiry: ChallengeExpiry | str = ChallengeExpiry.FIFTEEN_MINS,
        enable_qr_code: bool = True,
        enable_auto_verify: bool = False,
        profile: str | None = None,
        ip_address: str | None = None,
        ref: str | None = None,
    ) -> ChallengeAccepted:
        """Send ``user`` an MFA challenge: a push to their Gridy app and a QR code.

        Args:
            user: The Gridy user's e-mail address (at most 125 characters).
            challenge_type: What the user must do to answer.
            expiry: How long the challenge stays open.
            enable_qr_code: Also return the QR code as PNG bytes.
            enable_auto_verify: Have Gridy verify the auth code itself.
            profile: A role profile to assign on success.
            ip_address: The user's IPv4 address, checked against block rules.
            ref: Your own reference for the request (at most 25 characters).

        Returns:
            The accepted challenge, with its id and QR code.

        Raises:
            ValidationError: An argument is invalid; nothing was sent.
            ApiError: Gridy refused; the subclass says why.
            OutcomeUnknownError: The request may have reached Gridy but no
                answer did: the user may have a push. Do not resend blindly.
            ConnectError: Gridy could not be reached; nothing was sent.
            DecodeError: Gridy's answer could not be read.
        """
        body = NewChallenge(
            gridy_user=check_email(user),
            challenge_type=check_enum(ChallengeType, challenge_type, "challenge_type"),
            challenge_expiry=check_enum(ChallengeExpiry, expiry, "expiry"),
            enable_qr_code=_check_flag(enable_qr_code, "enable_qr_code"),
            enable_auto_verify=_check_flag(enable_auto_verify, "enable_auto_verify"),
            profile=(
                None
                if profile is None
                else check_text(profile, "profile", max_length=MAX_PROFILE_LENGTH)
            ),
            ip_address=check_ipv4(ip_address),
        )
        response = await self._call(_SEND, body, check_ref(ref), user)
        assert response is not None  # only the status endpoint answers 204
        return read_challenge_accepted(response)

    async def cancel_challenge(
        self, challenge_id: str, user: str, *, ref: str | None = None
    ) -> ChallengeCancelled:
        """Cancel a challenge sent to ``user``, removing the push from their app.

        Args:
            challenge_id: The id `send_challenge` returned.
            user: The e-mail address the challenge was sent to.
            ref: Your own reference for the request (at most 25 characters).

        Returns:
            The cancelled challenge.

        Raises:
            ValidationError: An argument is invalid; nothing was sent.
            ChallengeCancelledError: The challenge was already cancelled or over.
            ApiError: Gridy refused for another reason.
            TransportError: No answer came back.
            DecodeError: Gridy's answer could not be read.
        """
        body = CancelChallenge(
            challenge_id=check_challenge_id(challenge_id), gridy_user=check_email(user)
        )
        response = await self._call(_CANCEL, body, check_ref(ref), user)
        assert response is not None
        return read_challenge_cancelled(response, body.challenge_id)

    async def verify_challenge(
        self,
        challenge_id: str,
        user: str,
        auth_code: str,
        *,
        verify_type: VerifyType | str | None = None,
        ref: str | None = None,
    ) -> ChallengeVerified:
        """Check the auth code ``user`` read from their Gridy app.

        Args:
            challenge_id: The id `send_challenge` returned.
            user: The e-mail address the challenge was sent to.
            auth_code: The code the user typed in.
            verify_type: ``MANUAL`` or ``AUTO``; left out when None.
            ref: Your own reference for the request (at most 25 characters).

        Returns:
            The verified challenge.

        Raises:
            ValidationError: An argument is invalid; nothing was sent.
            WrongAuthCodeError: The code does not match.
            ChallengePendingError: The user has not answered yet.
            ChallengeRejectedError: The user refused the challenge.
            ChallengeExpiredError: The challenge expired first.
            VerificationError: Another verify failure; see its subclass.
            ApiError: Gridy refused for another reason.
        """
        body = VerifyChallenge(
            gridy_user=check_email(user),
            challenge_id=check_challenge_id(challenge_id),
            auth_code=check_text(auth_code, "auth_code", max_length=64),
            verify_type=(
                None
                if verify_type is None
                else check_enum(VerifyType, verify_type, "verify_type")
            ),
        )
        response = await self._call(_VERIFY, body, check_ref(ref), user)
        assert response is not None
        return read_challenge_verified(response, body.challenge_id)

    async def challenge_status(
        self, challenge_id: str, user: str, *, ref: str | None = None
    ) -> ChallengeStatus:
        """Ask where a challenge stands: still pending, or verified.

        Args:
            challenge_id: The id `send_challenge` returned.
            user: The e-mail address the challenge was sent to.
            ref: Your own reference for the request (at most 25 characters).

        Returns:
            The challenge's state.

        Raises:
            ChallengeRejectedError: The user refused the challenge.
            ChallengeExpiredError: The challenge expired unanswered.
            ChallengeCancelledError: The challenge was cancelled.
            ChallengeMismatchError: No such challenge for that user.
            ApiError: Gridy refused for another reason.
        """
        body = StatusQuery(
            gridy_user=check_email(user), challenge_id=check_challenge_id(challenge_id)
        )
        response = await self._call(_STATUS, body, check_ref(ref), user)
        return read_challenge_status(response, body.challenge_id)

    async def server_time(self) -> ServerTime:
        """Read Gridy's clock, to measure how far the local clock is off.

        Returns:
            The server's time in epoch milliseconds (Gridy answers in seconds).
        """
        response = await self._call(_TIME, None)
        assert response is not None
        return read_server_time(response)

    async def check_blocked(
        self, user: str, ip_address: str, *, ref: str | None = None
    ) -> BlockCheck:
        """Ask whether the account's own block rules refuse ``ip_address``.

        Args:
            user: The Gridy user's e-mail address.
            ip_address: The IPv4 address to check.
            ref: Your own reference for the request (at most 25 characters).

        Returns:
            Whether the address is blocked (Gridy's -6021 is a True here, not
            an error).
        """
        address = check_ipv4(ip_address)
        if address is None:
            raise ValidationError("ip_address", "is required: the address to check")
        body = BlockedQuery(gridy_user=check_email(user), ip_address=address)
        try:
            response = await self._call(_BLOCKED, body, check_ref(ref), user)
        except IPBlockedError as exc:
            return BlockCheck(address, blocked=True, server_id=exc.server_id)
        assert response is not None
        return BlockCheck(
            address, blocked=False, server_id=response.server_id, raw=response.raw
        )

    # --- The pipeline -------------------------------------------------------

    def _signed_headers(self, stamp: Stamp) -> dict[str, str]:
        mac = signature(self._secret.value, stamp.utctime, stamp.cnonce)
        return {
            "Authorization": authorization_header(self._api_user, mac),
            "x-gridy-apiuser": self._api_user,
            "x-gridy-utctime": str(stamp.utctime),
            "x-gridy-cnonce": stamp.cnonce,
            "Accept": _JSON,
            "Content-Type": _JSON,
            "User-Agent": _USER_AGENT,
        }

    async def _call(
        self,
        operation: _Operation,
        body: RequestBody | None,
        ref: str | None = None,
        user: str | None = None,
    ) -> ApiResponse | None:
        """Stamp, sign, send and read one request.

        Returns:
            The decoded answer, or None for an HTTP 204 the operation allows.
        """
        if self._transport.closed:
            # Checked before stamping: a call that cannot start must neither
            # spend a timestamp nor be logged as a completed call.
            raise ClientClosedError("this GridyClient was closed; create a new one")
        started = time.perf_counter()
        stamp = self._stamper.next()
        payload = None
        if body is not None:
            request = ApiRequest(
                ref=ref,
                utctime=stamp.utctime,
                api_user=self._api_user,
                type=operation.request_type,
                body=body,
            )
            payload = encode_request(request, self._dialect)
        url = self._base_url + operation.path
        headers = self._signed_headers(stamp)

        raw: RawResponse | None = None
        outcome: str = "error"
        try:
            raw = await self._transport.request(operation.method, url, headers, payload)
            response = self._interpret(operation, raw)
            outcome = "no content" if response is None else str(response.code)
            return response
        except ApiError as exc:
            outcome = type(exc).__name__ if exc.code is None else str(exc.code)
            raise
        except (TransportError, DecodeError) as exc:
            outcome = type(exc).__name__
            if operation.creates and not isinstance(exc, ConnectError):
                raise OutcomeUnknownError(
                    _unknown_message(operation, user or "", exc),
                    operation=operation.name,
                ) from exc
            raise
        finally:
            _log_call(operation, user, raw, outcome, started)

    def _interpret(self, operation: _Operation, raw: RawResponse) -> ApiResponse | None:
        if raw.status == 429:
            raise _rate_limited(raw)
        if raw.status == 204 and operation.no_content_ok and not raw.body.strip():
            return None
        response = decode_response(raw.status, raw.body)
        if response.code == operation.success_code:
            return response

        info = lookup_code(response.code)
        server_message = _text(response.message)
        error: type[ApiError] = info.outcome
        if info.is_error:
            said = f"; Gridy said {server_message[:200]!r}" if server_message else ""
            message = (
                f"{info.meaning} (code {info.code}, HTTP {response.http_status}): "
                f"{info.advice}{said}"
            )
        else:
            # A known success code, but not this operation's.
            error = UnknownCodeError
            message = (
                f"{operation.name} expected code {operation.success_code} but got "
                f"{response.code} ({info.meaning})"
            )
        raise error(
            message,
            http_status=response.http_status,
            code=response.code,
            server_message=server_message,
            more_info=response.more_info,
            server_id=response.server_id,
        )


def _check_flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, f"must be True or False, got {value!r:.40}")
    return value


def _text(message: object) -> str | None:
    if message is None or isinstance(message, str):
        return message
    return repr(message)


def _rate_limited(raw: RawResponse) -> RateLimitedError:
    header = raw.headers.get("Retry-After", "")
    retry_after = float(header) if re.fullmatch(r"\d+(\.\d+)?", header) else None
    wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
    return RateLimitedError(
        f"Gridy's rate limit was reached (HTTP 429){wait}", retry_after=retry_after
    )


def _unknown_message(operation: _Operation, user: str, exc: Exception) -> str:
    return (
        f"{operation.name} to {_mask_email(user)} may or may not have reached Gridy "
        f"({exc}); the user may already have a push. Do not send again blindly: "
        "ask the user, or let the challenge expire first"
    )


def _log_call(
    operation: _Operation,
    user: str | None,
    raw: RawResponse | None,
    outcome: str,
    started: float,
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    status = raw.status if raw is not None else None
    logger.info(
        "%s for %s: HTTP %s, outcome %s, %.1f ms, attempt %d",
        operation.name,
        _mask_email(user) if user else "-",
        status,
        outcome,
        elapsed_ms,
        1,
        extra={
            "gridy_operation": operation.name,
            "gridy_http_status": status,
            "gridy_outcome": outcome,
            "gridy_elapsed_ms": elapsed_ms,
            "gridy_attempt": 1,
        },
    )
