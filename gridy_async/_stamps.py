"""Stamps: the ``utctime`` and ``cnonce`` every request is signed with.

Gridy rejects a reused nonce (-4034) and a reused timestamp (-4035) per api
user, so two requests of one api user must never carry the same millisecond.
A :class:`Stamper` hands out

    utctime = max(clock_ms + offset_ms, previous utctime + 1)

which is strictly increasing whatever the clock does. The price is a *lead*
over the (offset-corrected) clock: one millisecond for every stamp taken
beyond one per millisecond, plus however far the clock stepped backwards.
The server tolerates 15 minutes of drift (-4036), so the lead is capped at
``max_lead_ms`` (60 seconds by default): a stamp that would need more raises
:class:`~gridy_async.StampError` instead of being sent to certain rejection.
The lead then shrinks by itself as the clock catches up. Only a clock that
stepped back about that far reaches the cap, or a minute of signing faster
than 1,000 requests a second for one API user (Gridy allows 200-300 a
minute).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import ClassVar

import attrs

from ._errors import StampError

__all__ = ["Clock", "Stamp", "Stamper"]

Clock = Callable[[], float]
"""A callable returning wall-clock seconds since the epoch, like `time.time`."""

DEFAULT_MAX_LEAD_MS = 60_000


@attrs.frozen
class Stamp:
    """The time and nonce one HTTP attempt is signed with.

    Attributes:
        utctime: Milliseconds since the epoch, as the server should read them.
        cnonce: A random UUID (version 4), new for every attempt.
    """

    utctime: int
    cnonce: str


class Stamper:
    """Hands out unique, strictly increasing stamps for one api user.

    Every client of the same api user in a process should share one stamper;
    :meth:`shared` returns that instance. Thread-safe.

    Args:
        clock: Wall-clock seconds since the epoch; injectable for tests.
        offset_ms: Server clock minus local clock, added to every reading.
        max_lead_ms: How far ahead of the corrected clock a stamp may run.
    """

    _shared: ClassVar[dict[str, Stamper]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        offset_ms: int = 0,
        max_lead_ms: int = DEFAULT_MAX_LEAD_MS,
    ) -> None:
        self._clock = clock
        self._offset_ms = offset_ms
        self._max_lead_ms = max_lead_ms
        self._last = 0
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, api_user: str) -> Stamper:
        """Return the process-wide stamper of ``api_user``, creating it once."""
        with cls._shared_lock:
            stamper = cls._shared.get(api_user)
            if stamper is None:
                stamper = cls._shared[api_user] = cls()
            return stamper

    @property
    def offset_ms(self) -> int:
        """Server clock minus local clock, in milliseconds."""
        return self._offset_ms

    @offset_ms.setter
    def offset_ms(self, value: int) -> None:
        # Moving the offset backwards behaves like the clock stepping back:
        # stamps stay strictly increasing and the lead absorbs the step.
        with self._lock:
            self._offset_ms = int(value)

    @property
    def lead_ms(self) -> int:
        """How far the last stamp ran ahead of the corrected clock (0 or more)."""
        return max(0, self._last - self._now_ms())

    def _now_ms(self) -> int:
        return int(self._clock() * 1000) + self._offset_ms

    def next(self) -> Stamp:
        """Return a new stamp, later than every stamp this stamper gave before.

        Raises:
            StampError: The stamp would run more than ``max_lead_ms`` ahead of
                the corrected clock, which happens only after the clock stepped
                backwards by about that much.
        """
        with self._lock:
            now = self._now_ms()
            utctime = now if now > self._last else self._last + 1
            lead = utctime - now
            if lead > self._max_lead_ms:
                raise StampError(
                    f"the clock is {lead} ms behind the last timestamp sent; Gridy "
                    "rejects repeated timestamps, so no request can be signed "
                    f"until the clock catches up (cap: {self._max_lead_ms} ms)"
                )
            self._last = utctime
        return Stamp(utctime, str(uuid.uuid4()))
