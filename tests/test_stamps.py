"""Stamps: unique, strictly increasing times and fresh UUID v4 nonces."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from gridy_async import Stamp, Stamper, StampError

T0_MS = 1_734_732_919_817


class FrozenClock:
    """A clock that only moves when a test moves it.

    It counts whole milliseconds and returns seconds, so readings carry no
    accumulated floating-point error.
    """

    def __init__(self, ms: int = T0_MS) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


class SteppingBackClock:
    """A clock that runs backwards by ``step_ms`` on every reading."""

    def __init__(self, ms: int = T0_MS, step_ms: int = 1) -> None:
        self.ms = ms
        self.step_ms = step_ms
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.ms -= self.step_ms
            return self.ms / 1000


def assert_well_formed(stamps: Sequence[Stamp]) -> None:
    """Assert times are unique and nonces are unique canonical UUID v4s."""
    times = [stamp.utctime for stamp in stamps]
    nonces = [stamp.cnonce for stamp in stamps]
    assert len(set(times)) == len(times)
    assert len(set(nonces)) == len(nonces)
    for nonce in nonces:
        parsed = uuid.UUID(nonce)
        assert parsed.version == 4
        assert str(parsed) == nonce


def assert_strictly_increasing(times: Sequence[int]) -> None:
    """Assert each time is later than the one before it."""
    assert all(b > a for a, b in itertools.pairwise(times))


async def _take_async(stamper: Stamper, tasks: int, per_task: int) -> list[Stamp]:
    issued: list[Stamp] = []

    async def worker() -> None:
        for _ in range(per_task):
            issued.append(stamper.next())
            await asyncio.sleep(0)  # let the other tasks interleave

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return issued


def _take_threaded(
    stamper: Stamper, threads: int, per_thread: int
) -> list[list[Stamp]]:
    """Return each thread's stamps, in the order that thread took them."""
    start = threading.Barrier(threads)

    def worker() -> list[Stamp]:
        start.wait()
        return [stamper.next() for _ in range(per_thread)]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        return [future.result() for future in futures]


async def test_tasks_on_a_frozen_clock_get_unique_increasing_stamps() -> None:
    """5,000 stamps from 50 tasks in one frozen millisecond are all distinct."""
    stamper = Stamper(clock=FrozenClock())

    issued = await _take_async(stamper, tasks=50, per_task=100)

    assert len(issued) == 5000
    assert_well_formed(issued)
    # Issue order is the order the tasks appended in: strictly increasing.
    assert_strictly_increasing([stamp.utctime for stamp in issued])
    assert min(s.utctime for s in issued) == T0_MS
    assert max(s.utctime for s in issued) == T0_MS + 4999
    assert stamper.lead_ms == 4999


def test_threads_on_a_frozen_clock_get_unique_increasing_stamps() -> None:
    """8,000 stamps from 8 racing threads in one frozen millisecond are distinct."""
    stamper = Stamper(clock=FrozenClock())

    per_thread = _take_threaded(stamper, threads=8, per_thread=1000)
    issued = [stamp for stamps in per_thread for stamp in stamps]

    assert len(issued) == 8000
    assert_well_formed(issued)
    for stamps in per_thread:
        assert_strictly_increasing([stamp.utctime for stamp in stamps])
    # Each thread's own stamps are in order, and together they fill the range.
    assert sorted(s.utctime for s in issued) == list(range(T0_MS, T0_MS + 8000))


async def test_tasks_on_a_backward_clock_get_unique_increasing_stamps() -> None:
    """Stamps keep increasing while the clock runs backwards under 40 tasks."""
    clock = SteppingBackClock()
    stamper = Stamper(clock=clock)

    issued = await _take_async(stamper, tasks=40, per_task=100)

    assert len(issued) == 4000
    assert_well_formed(issued)
    assert_strictly_increasing([stamp.utctime for stamp in issued])
    assert issued[-1].utctime > clock.ms


def test_threads_on_a_backward_clock_get_unique_increasing_stamps() -> None:
    """Stamps stay distinct while 8 threads race a clock running backwards."""
    stamper = Stamper(clock=SteppingBackClock())

    per_thread = _take_threaded(stamper, threads=8, per_thread=500)
    issued = [stamp for stamps in per_thread for stamp in stamps]

    assert len(issued) == 4000
    assert_well_formed(issued)
    for stamps in per_thread:
        assert_strictly_increasing([stamp.utctime for stamp in stamps])


def test_single_backward_step_keeps_stamps_increasing() -> None:
    """A ten-second step back of the clock never repeats or lowers a time."""
    clock = FrozenClock()
    stamper = Stamper(clock=clock)
    before = stamper.next()

    clock.ms -= 10_000
    after = [stamper.next() for _ in range(3)]

    assert [s.utctime for s in after] == [T0_MS + 1, T0_MS + 2, T0_MS + 3]
    assert before.utctime == T0_MS
    assert stamper.lead_ms == 10_003


def test_a_moving_clock_is_followed_with_no_lead() -> None:
    """When the clock moves forward faster than stamps are taken, stamps follow it."""
    clock = FrozenClock()
    stamper = Stamper(clock=clock)

    times = []
    for _ in range(5):
        times.append(stamper.next().utctime)
        clock.ms += 2

    assert times == [T0_MS + 2 * i for i in range(5)]
    assert stamper.lead_ms == 0


def test_lead_is_capped_and_recovers_when_the_clock_catches_up() -> None:
    """Past max_lead_ms a StampError is raised; time moving on lifts it."""
    clock = FrozenClock()
    stamper = Stamper(clock=clock, max_lead_ms=100)

    issued = [stamper.next() for _ in range(101)]  # leads 0 .. 100
    with pytest.raises(StampError, match="100 ms"):
        stamper.next()
    with pytest.raises(StampError):
        stamper.next()  # still refused: the failure did not consume a time

    assert issued[-1].utctime == T0_MS + 100
    assert stamper.lead_ms == 100

    clock.ms += 1
    assert stamper.next().utctime == T0_MS + 101
    with pytest.raises(StampError):
        stamper.next()

    clock.ms += 200
    recovered = stamper.next()
    assert recovered.utctime == T0_MS + 201
    assert stamper.lead_ms == 0


def test_backward_clock_hits_the_cap_and_never_exceeds_it() -> None:
    """A clock running backwards raises StampError before the lead passes the cap."""
    clock = SteppingBackClock(step_ms=1)
    stamper = Stamper(clock=clock, max_lead_ms=50)

    issued: list[Stamp] = []
    leads: list[int] = []
    refused: StampError | None = None
    while refused is None and len(issued) < 1000:
        try:
            issued.append(stamper.next())
        except StampError as exc:
            refused = exc
        else:
            leads.append(issued[-1].utctime - clock.ms)  # vs. the reading it used

    assert refused is not None
    assert 10 < len(issued) < 1000
    assert max(leads) <= 50
    assert_strictly_increasing([stamp.utctime for stamp in issued])

    clock.step_ms = 0
    clock.ms += 1000
    assert stamper.next().utctime > issued[-1].utctime


@pytest.mark.parametrize("offset_ms", [1234, -1234, 0])
def test_offset_is_added_to_the_clock(offset_ms: int) -> None:
    """offset_ms shifts every stamp by exactly that many milliseconds."""
    stamper = Stamper(clock=FrozenClock(), offset_ms=offset_ms)

    assert stamper.offset_ms == offset_ms
    assert stamper.next().utctime == T0_MS + offset_ms


def test_offset_can_be_changed_and_stamps_stay_increasing() -> None:
    """Moving the offset forward shifts stamps; moving it back never repeats one."""
    clock = FrozenClock()
    stamper = Stamper(clock=clock)
    first = stamper.next()

    stamper.offset_ms = 5000
    second = stamper.next()
    stamper.offset_ms = -5000
    third = stamper.next()

    assert first.utctime == T0_MS
    assert second.utctime == T0_MS + 5000
    assert third.utctime == T0_MS + 5001
    assert stamper.lead_ms == 10_001


def test_shared_returns_one_instance_per_api_user() -> None:
    """Stamper.shared gives the same stamper per api user and distinct across users."""
    first = Stamper.shared("test-stamps-shared-a")

    assert Stamper.shared("test-stamps-shared-a") is first
    assert Stamper.shared("test-stamps-shared-b") is not first


def test_shared_is_one_instance_under_racing_threads() -> None:
    """Threads racing to create a user's shared stamper all get the same one."""
    start = threading.Barrier(16)

    def get() -> Stamper:
        start.wait()
        return Stamper.shared("test-stamps-shared-race")

    with ThreadPoolExecutor(max_workers=16) as pool:
        stampers = list(pool.map(lambda _: get(), range(16)))

    assert len({id(stamper) for stamper in stampers}) == 1
