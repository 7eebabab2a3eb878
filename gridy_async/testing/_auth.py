"""How the sandbox checks a request's signature headers, as Gridy does.

The checks run in a fixed order and the first failure decides the code:
the ``x-gridy-*`` headers (-4004 ... -4009), the Authorization header and its
parts (-4000, -4001, -4026 ... -4033), the API user (-1001), clock drift
(-4036), the signature (-4037, compared in constant time), then replays:
a reused nonce (-4034) and a reused timestamp (-4035).
"""

from __future__ import annotations

import collections
import hmac
import re
from collections.abc import Mapping

from .._signing import ALGORITHM, SIGNED_HEADERS, signature

__all__ = ["CLOCK_TOLERANCE_MS", "Rejection", "ReplayGuard", "authenticate"]

CLOCK_TOLERANCE_MS = 15 * 60 * 1000  # FACTS.md, "Signing": +/-15 minutes

_UTCTIME = re.compile(r"\d{1,16}")
# The spec page's own example nonce is not a full UUID, so any short run of
# hex digits and hyphens passes, as it must on the real server.
_CNONCE = re.compile(r"[0-9A-Za-z-]{8,64}")
_API_USER = re.compile(r"\d{9}")
_SIGNATURE = re.compile(r"[0-9a-f]{128}")
_CANONICAL = re.compile(
    rf"gridy-hmac: ?apiuser=([^,]*),signedheaders={re.escape(SIGNED_HEADERS)},"
    rf"algorithm={re.escape(ALGORITHM)},signature=([0-9a-f]{{128}})"
)


class Rejection(Exception):
    """A request the sandbox refuses, with the API code it answers.

    ``http_status`` overrides the registry's status for the code (the status
    endpoint answers an unknown challenge with 404).
    """

    def __init__(
        self, code: int, detail: str = "", *, http_status: int | None = None
    ) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        self.http_status = http_status


def _header(
    headers: Mapping[str, str],
    name: str,
    missing: int,
    bad: int,
    pattern: re.Pattern[str],
) -> str:
    value = headers.get(name)
    if value is None or not value.strip():
        raise Rejection(missing, f"{name} missing")
    if not pattern.fullmatch(value):
        raise Rejection(bad, f"{name} malformed")
    return value


def _authorization_parts(headers: Mapping[str, str]) -> dict[str, str]:
    value = headers.get("Authorization")
    if value is None or not value.strip():
        raise Rejection(-4000, "Authorization missing")
    scheme, colon, rest = value.partition(":")
    if scheme.strip() != "gridy-hmac" or not colon:
        raise Rejection(-4001, "Authorization is not gridy-hmac")

    parts: dict[str, str] = {}
    for item in rest.strip().split(","):
        key, equals, part = item.partition("=")
        if not equals or not key.strip():
            raise Rejection(-4001, "Authorization part is not key=value")
        parts[key.strip().lower()] = part.strip()
    return parts


def _part(parts: Mapping[str, str], name: str, missing: int) -> str:
    value = parts.get(name)
    if not value:
        raise Rejection(missing, f"Authorization {name} missing")
    return value


def _signature_of(headers: Mapping[str, str], api_user: str) -> str:
    """The Authorization header's signature, once every part checks out."""
    # The header as clients write it, parts in the documented order, is read
    # in one match; anything else goes through the part-by-part checks, which
    # name the part at fault.
    canonical = _CANONICAL.fullmatch(headers.get("Authorization") or "")
    if canonical is not None and canonical[1] == api_user:
        return canonical[2]

    parts = _authorization_parts(headers)
    mac = _part(parts, "signature", -4026)
    if not _SIGNATURE.fullmatch(mac):
        raise Rejection(-4027, "signature is not 128 hex digits")
    if _part(parts, "apiuser", -4028) != api_user:
        raise Rejection(-4029, "Authorization apiuser differs from x-gridy-apiuser")
    if _part(parts, "algorithm", -4030) != ALGORITHM:
        raise Rejection(-4031, f"algorithm is not {ALGORITHM}")
    if _part(parts, "signedheaders", -4032) != SIGNED_HEADERS:
        raise Rejection(-4033, f"signedheaders is not {SIGNED_HEADERS}")
    return mac


def authenticate(
    headers: Mapping[str, str], secrets: Mapping[str, bytes], now_ms: int
) -> tuple[str, int, str]:
    """Check a request's signature headers.

    Args:
        headers: The request headers (case-insensitive mapping).
        secrets: Known API users and their secrets.
        now_ms: The sandbox's clock, in epoch milliseconds.

    Returns:
        The API user, the request's utctime and its cnonce.

    Raises:
        Rejection: The first check that failed, with its code.
    """
    utctime = _header(headers, "x-gridy-utctime", -4004, -4005, _UTCTIME)
    cnonce = _header(headers, "x-gridy-cnonce", -4006, -4007, _CNONCE)
    api_user = _header(headers, "x-gridy-apiuser", -4008, -4009, _API_USER)

    mac = _signature_of(headers, api_user)
    secret = secrets.get(api_user)
    if secret is None:
        raise Rejection(-1001, "unknown API user")
    if abs(int(utctime) - now_ms) > CLOCK_TOLERANCE_MS:
        raise Rejection(-4036, "utctime is more than 15 minutes off")
    if not hmac.compare_digest(mac, signature(secret, utctime, cnonce)):
        raise Rejection(-4037, "signature does not match")
    return api_user, int(utctime), cnonce


class ReplayGuard:
    """Remembers nonces and timestamps per API user for the tolerance window.

    Anything older than the window fails the drift check anyway, so entries
    are forgotten, oldest first, once they fall out of it.
    """

    def __init__(self) -> None:
        self._nonces: set[tuple[str, str]] = set()
        self._times: set[tuple[str, int]] = set()
        self._arrivals: collections.deque[tuple[int, str, str]] = collections.deque()

    def check(self, api_user: str, utctime: int, cnonce: str, now_ms: int) -> None:
        """Record one request, or raise `Rejection` if it repeats an earlier one."""
        self._forget_before(now_ms - CLOCK_TOLERANCE_MS)
        if (api_user, cnonce) in self._nonces:
            raise Rejection(-4034, "nonce reused")
        if (api_user, utctime) in self._times:
            raise Rejection(-4035, "timestamp reused")
        self._nonces.add((api_user, cnonce))
        self._times.add((api_user, utctime))
        self._arrivals.append((utctime, api_user, cnonce))

    def _forget_before(self, cutoff_ms: int) -> None:
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] < cutoff_ms:
            utctime, api_user, cnonce = arrivals.popleft()
            self._nonces.discard((api_user, cnonce))
            self._times.discard((api_user, utctime))
