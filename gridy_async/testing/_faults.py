"""Faults the sandbox can inject, and its per-endpoint rate limit.

A fault matches a request by its number on an endpoint, by Gridy user, or by
chance from a seeded generator, and fires a set number of times. Some faults
strike before the request is processed (nothing happens on the server), the
others after (the challenge exists, but its answer is lost or mangled):

=====================  ==============  ===========================================
kind                   processed?      what the client sees
=====================  ==============  ===========================================
``drop_before``        no              the connection closes, no answer
``drop_after``         yes             the connection closes, no answer
``internal_error``     no              HTTP 500 with code -5000 (or ``code``)
``bad_gateway``        no              HTTP 502 with an HTML page
``truncated_json``     yes             the answer's JSON cut off halfway
``slow``               yes             the answer after ``delay`` seconds
``wrong_content_type`` yes             valid JSON labelled ``text/plain``
``empty_body``         yes             the answer's status with no body
=====================  ==============  ===========================================
"""

from __future__ import annotations

import collections
import enum
import random

import attrs

__all__ = ["Fault", "FaultKind", "RateLimiter"]


class FaultKind(str, enum.Enum):
    """What goes wrong; see the module's table."""

    DROP_BEFORE = "drop_before"
    DROP_AFTER = "drop_after"
    INTERNAL_ERROR = "internal_error"
    BAD_GATEWAY = "bad_gateway"
    TRUNCATED_JSON = "truncated_json"
    SLOW = "slow"
    WRONG_CONTENT_TYPE = "wrong_content_type"
    EMPTY_BODY = "empty_body"

    @property
    def strikes_before(self) -> bool:
        """Whether the request goes unprocessed."""
        return self in _BEFORE


_BEFORE = {FaultKind.DROP_BEFORE, FaultKind.INTERNAL_ERROR, FaultKind.BAD_GATEWAY}


@attrs.define
class Fault:
    """One planned fault. Build them with `GridySandbox.inject`.

    Attributes:
        kind: What goes wrong.
        endpoint: ``"challenge"``, ``"status"``, ``"verify"``, ``"time"``,
            ``"blocked"``, or None for any.
        on_request: Strike the Nth request (1-based) to the endpoint.
        user: Strike requests for this Gridy user (case-insensitive).
        probability: Strike each matching request with this chance.
        times: How many times it may strike; None for no limit.
        delay: Seconds of delay, for ``slow``.
        code: The API code, for ``internal_error`` (-5000, or 5000 as the
            SDKs spell it).
        fired: How many times it has struck.
    """

    kind: FaultKind
    endpoint: str | None = None
    on_request: int | None = None
    user: str | None = None
    probability: float | None = None
    times: int | None = None
    delay: float = 1.0
    code: int = -5000
    fired: int = 0

    def matches(
        self, endpoint: str, number: int, user: str | None, chance: random.Random
    ) -> bool:
        """Whether this fault strikes the ``number``-th request to ``endpoint``."""
        if self.times is not None and self.fired >= self.times:
            return False
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        if self.on_request is not None and self.on_request != number:
            return False
        if self.user is not None and (user or "").lower() != self.user.lower():
            return False
        return self.probability is None or chance.random() < self.probability


class RateLimiter:
    """Requests per minute per endpoint, over a sliding window on the sandbox clock.

    The sandbox answers the excess with HTTP 429 rather than waiting, as the
    real API does, so this is an emulation of Gridy's limit and not a client
    side limiter.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    def retry_after(self, endpoint: str, now: float) -> int | None:
        """Record a request; return seconds to wait if it is over the limit."""
        window = self._seen[endpoint]
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return max(1, int(window[0] + 60 - now + 0.999))
        window.append(now)
        return None
