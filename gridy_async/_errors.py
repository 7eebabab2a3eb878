"""Every exception gridy_async raises, in one tree.

::

    GridyError
    ├── ConfigurationError          a setting cannot work (also a ValueError)
    ├── ValidationError             an argument is invalid; nothing was sent
    ├── StampError                  the clock stepped back too far to sign
    ├── ClientClosedError           the client was used after aclose()
    ├── EventLoopError              the client was used from another event loop
    ├── TransportError              no usable answer came back
    │   ├── ConnectError            the server was not reached; nothing was sent
    │   ├── RequestTimeoutError     no answer in time
    │   ├── ConnectionLostError     the connection broke during the exchange
    │   └── InvalidResponseError    the body is empty or not JSON
    ├── DecodeError                 JSON of a shape we cannot read
    ├── OutcomeUnknownError         the request may have been processed
    └── ApiError                    the server answered with an error code
        ├── ApiUserError            -1001 -1003 -1026
        │   └── AutoVerifyDisabledError     -1095
        ├── AccountStateError       -2003 (and the base of the -20xx family)
        │   ├── AccountBlockedError         -2004
        │   ├── AccountLockedError          -2005 -2006 -2009 -2017 -2038
        │   └── AccountDisabledError        -2007 -2008 -2010
        ├── ChallengeError
        │   ├── ChallengeCancelledError     -2035
        │   └── VerificationError           -3081 ... -3092
        │       ├── ChallengeMismatchError      -3081
        │       ├── ChallengeExpiredError       -3082
        │       ├── WrongAuthCodeError          -3087
        │       ├── ChallengeAlreadyVerifiedError  -3088 -3089
        │       ├── ChallengePendingError       -3091
        │       └── ChallengeRejectedError      -3092
        ├── AuthenticationError
        │   ├── RequestHeaderError          -4000 ... -4033
        │   ├── NonceReusedError            -4034
        │   ├── TimestampReusedError        -4035
        │   ├── ClockDriftError             -4036
        │   └── InvalidSignatureError       -4037
        ├── InvalidRequestError     -5070 ... -5078
        │   └── InvalidEmailError           -5079
        ├── IPBlockedError          -6021
        ├── RateLimitedError        HTTP 429
        ├── InternalServerError     -5000 / 5000
        └── UnknownCodeError        a code this version does not know

Which code becomes which class is decided in one place, the code registry
(:func:`gridy_async.lookup_code`). No exception carries request headers, the
secret or a signature.
"""

from __future__ import annotations

__all__ = [
    "AccountBlockedError",
    "AccountDisabledError",
    "AccountLockedError",
    "AccountStateError",
    "ApiError",
    "ApiUserError",
    "AuthenticationError",
    "AutoVerifyDisabledError",
    "ChallengeAlreadyVerifiedError",
    "ChallengeCancelledError",
    "ChallengeError",
    "ChallengeExpiredError",
    "ChallengeMismatchError",
    "ChallengePendingError",
    "ChallengeRejectedError",
    "ClientClosedError",
    "ClockDriftError",
    "ConfigurationError",
    "ConnectError",
    "ConnectionLostError",
    "DecodeError",
    "EventLoopError",
    "GridyError",
    "IPBlockedError",
    "InternalServerError",
    "InvalidEmailError",
    "InvalidRequestError",
    "InvalidResponseError",
    "InvalidSignatureError",
    "NonceReusedError",
    "OutcomeUnknownError",
    "RateLimitedError",
    "RequestHeaderError",
    "RequestTimeoutError",
    "StampError",
    "TimestampReusedError",
    "TransportError",
    "UnknownCodeError",
    "ValidationError",
    "VerificationError",
    "WrongAuthCodeError",
]


class GridyError(Exception):
    """The root of every error gridy_async raises."""


class ConfigurationError(GridyError, ValueError):
    """A client setting cannot work: a missing credential, an unsafe base URL."""


class ValidationError(GridyError, ValueError):
    """An argument is invalid. Raised before anything is stamped or sent.

    Attributes:
        field: The argument at fault, by its Python name.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class StampError(GridyError):
    """No timestamp can be issued until the clock catches up (see `Stamper`)."""


class ClientClosedError(GridyError, RuntimeError):
    """The client was used after :meth:`GridyClient.aclose`, or its session closed."""


class EventLoopError(GridyError, RuntimeError):
    """The client was used from another event loop than the one it first ran in.

    Its aiohttp session belongs to that loop; create one client per loop (for
    example, one per ``asyncio.run``).
    """


class TransportError(GridyError):
    """No usable answer came back from the server.

    Attributes:
        http_status: The HTTP status, when a response arrived at all.
        snippet: The start of the body, when one arrived.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        snippet: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.snippet = snippet


class ConnectError(TransportError):
    """The server could not be reached. The request was certainly not sent."""


class RequestTimeoutError(TransportError):
    """The server did not answer in time."""


class ConnectionLostError(TransportError):
    """The connection broke after the request started."""


class InvalidResponseError(TransportError):
    """The response body was empty or not JSON (a proxy page, a cut-off body)."""


class DecodeError(GridyError):
    """The response was JSON, but not of a shape gridy_async can read.

    Attributes:
        field: Where in the body the problem is, as a dotted path.
        http_status: The HTTP status of the response.
        challenge_id: When Gridy accepted a challenge but the rest of its
            answer was unreadable, the id to follow or cancel it by.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str,
        http_status: int | None,
        challenge_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.http_status = http_status
        self.challenge_id = challenge_id


class OutcomeUnknownError(GridyError):
    """The request may or may not have been processed by the server.

    Raised instead of a transport or decode error by operations that must not
    be repeated blindly, such as sending a challenge: the user may already
    have a push on their phone. The underlying error is ``__cause__``.

    Attributes:
        operation: The operation's name, such as ``"send_challenge"``.
    """

    def __init__(self, message: str, *, operation: str) -> None:
        super().__init__(message)
        self.operation = operation


class ApiError(GridyError):
    """The server answered with an error code.

    Attributes:
        http_status: The HTTP status of the response.
        code: The API code, such as -2035; None when the answer had none (429).
        server_message: The server's ``message``, as text.
        more_info: The server's more-info link, if any.
        server_id: The server's ``id`` for the exchange, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        code: int | None,
        server_message: str | None = None,
        more_info: str | None = None,
        server_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.server_message = server_message
        self.more_info = more_info
        self.server_id = server_id


class ApiUserError(ApiError):
    """The API user is unknown, malformed or lacks a permission."""


class AutoVerifyDisabledError(ApiUserError):
    """Auto-verify was asked for, but it is off for this API user."""


class AccountStateError(ApiError):
    """The Gridy user's account cannot take a challenge in its present state."""


class AccountBlockedError(AccountStateError):
    """The Gridy user's account is blocked."""


class AccountLockedError(AccountStateError):
    """The Gridy user's account is locked (failed attempts, lock or lockdown)."""


class AccountDisabledError(AccountStateError):
    """The Gridy user's account is disabled or not active."""


class ChallengeError(ApiError):
    """The challenge named in the request cannot do what was asked."""


class ChallengeCancelledError(ChallengeError):
    """The challenge was already cancelled, or cannot be cancelled."""


class VerificationError(ChallengeError):
    """Verifying or following a challenge failed."""


class ChallengeMismatchError(VerificationError):
    """The verify code expired or does not belong to this challenge."""


class ChallengeExpiredError(VerificationError):
    """The challenge expired before the user answered."""


class WrongAuthCodeError(VerificationError):
    """The auth code does not match the challenge."""


class ChallengeAlreadyVerifiedError(VerificationError):
    """The challenge was already verified or authenticated."""


class ChallengePendingError(VerificationError):
    """The user has not answered the challenge yet."""


class ChallengeRejectedError(VerificationError):
    """The user rejected the challenge."""


class AuthenticationError(ApiError):
    """The server did not accept the request's signature headers."""


class RequestHeaderError(AuthenticationError):
    """A signature header is missing or malformed (often a proxy rewrote it)."""


class NonceReusedError(AuthenticationError):
    """The ``cnonce`` was seen before: a replayed or duplicated request."""


class TimestampReusedError(AuthenticationError):
    """The ``utctime`` was used before by this API user."""


class ClockDriftError(AuthenticationError):
    """The request's time is more than 15 minutes from the server's clock."""


class InvalidSignatureError(AuthenticationError):
    """The signature does not match: almost always a wrong API secret."""


class InvalidRequestError(ApiError):
    """The server could not accept the request's JSON."""


class InvalidEmailError(InvalidRequestError):
    """The server did not accept the Gridy user's e-mail address."""


class IPBlockedError(ApiError):
    """The user's IP address is blocked by the account's own block rules."""


class RateLimitedError(ApiError):
    """Too many requests (HTTP 429).

    Attributes:
        retry_after: Seconds the server asked us to wait, if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int = 429,
        code: int | None = None,
        server_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, http_status=http_status, code=code, server_message=server_message
        )
        self.retry_after = retry_after


class InternalServerError(ApiError):
    """The server failed internally (-5000 or 5000)."""


class UnknownCodeError(ApiError):
    """The server answered with a code this version of gridy_async does not know."""
