"""Batch dispatch: send a challenge to every user in a CSV file, and say what
became of each one.

Rows stream from the file; a fixed number of workers pull them one at a time
and send; every data row ends as exactly one `RowOutcome`, handed to a
callback the moment it is known::

    summary = BatchSummary()
    with open("users.csv", "rb") as source, open("out.jsonl", "x") as out:
        await run_batch(
            client, read_rows(source), concurrency=8,
            on_outcome=JsonLinesWriter(out), summary=summary,
        )

An outcome is keyed by the row's line number in the file, so a later run can
tell which rows an earlier, interrupted run already settled.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

import attrs

from ._errors import (
    ApiError,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    RateLimitedError,
    StampError,
    ValidationError,
)
from ._models import ChallengeAccepted, ChallengeType
from ._validation import check_email, check_enum, check_ipv4, check_ref

if TYPE_CHECKING:
    from _csv import Reader

__all__ = [
    "BatchRow",
    "BatchSummary",
    "ChallengeSender",
    "JsonLinesWriter",
    "OutcomeKind",
    "RowOutcome",
    "read_rows",
    "run_batch",
]

OutcomeKind = Literal["accepted", "invalid", "rejected", "not_sent", "unknown"]
"""What became of a row.

``accepted``: Gridy took the challenge. ``invalid``: the row was unusable and
nothing was sent. ``rejected``: Gridy refused it. ``not_sent``: Gridy was not
reached, or refused the request unprocessed (rate limited), so the user has
no push and the row can be sent again. ``unknown``: the request may have reached Gridy,
so the user may have a push.
"""

OUTCOME_KINDS: tuple[OutcomeKind, ...] = (
    "accepted",
    "invalid",
    "rejected",
    "not_sent",
    "unknown",
)
DEFINITE_KINDS = frozenset({"accepted", "invalid", "rejected"})

_ACCEPTED_CODE = 2025  # the client returns only on this code

# Folded header name (lower case, letters and digits only) -> BatchRow field.
_COLUMNS = {
    "email": "user",
    "gridyuser": "user",
    "user": "user",
    "ref": "ref",
    "id": "ref",
    "challengetype": "challenge_type",
    "type": "challenge_type",
    "ip": "ip_address",
    "ipaddress": "ip_address",
}
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


@attrs.frozen(kw_only=True)
class BatchRow:
    """One data row of a users file.

    Attributes:
        line: The line of the file the row starts on (the header is line 1).
        user: The e-mail address, stripped; empty when the cell is.
        ref: The caller's own reference, if the row has one.
        challenge_type: The challenge type, if the row names one.
        ip_address: The user's IP address, if the row has one.
        problem: Why the row cannot be sent at all (malformed CSV), or None.
    """

    line: int
    user: str
    ref: str | None = None
    challenge_type: str | None = None
    ip_address: str | None = None
    problem: str | None = None


@attrs.frozen(kw_only=True)
class RowOutcome:
    """What became of one row.

    Attributes:
        line: The row's line in the file.
        user: The row's e-mail address, or None when the cell was missing.
        ref: The row's reference, if any.
        outcome: One of `OUTCOME_KINDS`.
        challenge_id: Gridy's id for the challenge, when accepted.
        code: The API code Gridy answered with, when it answered.
        error: The name of the exception that settled the row, if any.
        message: What went wrong, in words.
    """

    line: int
    user: str | None
    ref: str | None
    outcome: OutcomeKind
    challenge_id: str | None = None
    code: int | None = None
    error: str | None = None
    message: str | None = None

    @property
    def definite(self) -> bool:
        """Whether the row's fate is settled: accepted, invalid or rejected."""
        return self.outcome in DEFINITE_KINDS

    def to_dict(self) -> dict[str, Any]:
        """The outcome as a JSON-ready mapping, every key present."""
        return attrs.asdict(self)

    def to_json(self) -> str:
        """The outcome as one line of JSON, without the line break."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


@attrs.define
class BatchSummary:
    """Counts of outcomes, kept up to date while a batch runs.

    Attributes:
        by_outcome: Rows per outcome kind.
        by_code: Rows per API code Gridy answered with.
        interrupted: The run stopped before reading every row.
    """

    by_outcome: Counter[str] = attrs.field(factory=Counter)
    by_code: Counter[int] = attrs.field(factory=Counter)
    interrupted: bool = False

    @property
    def total(self) -> int:
        """Rows with an outcome."""
        return sum(self.by_outcome.values())

    @property
    def definite(self) -> bool:
        """Whether every row was read and got a definite outcome."""
        unsettled = self.by_outcome["not_sent"] + self.by_outcome["unknown"]
        return not self.interrupted and unsettled == 0

    def add(self, outcome: RowOutcome) -> None:
        """Count one outcome."""
        self.by_outcome[outcome.outcome] += 1
        if outcome.code is not None:
            self.by_code[outcome.code] += 1


class JsonLinesWriter:
    """Writes each outcome as one line of JSON and flushes it at once, so a
    run that is killed keeps every line it wrote.

    Args:
        stream: A text stream open for writing.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, outcome: RowOutcome) -> None:
        """Write and flush one outcome."""
        self._stream.write(outcome.to_json() + "\n")
        self._stream.flush()


class ChallengeSender(Protocol):
    """What `run_batch` needs of a client; `GridyClient` is one."""

    async def send_challenge(
        self,
        user: str,
        *,
        challenge_type: ChallengeType | str = ...,
        enable_qr_code: bool = ...,
        ip_address: str | None = ...,
        ref: str | None = ...,
    ) -> ChallengeAccepted:
        """Send ``user`` a challenge."""
        ...


# --- Reading ----------------------------------------------------------------


def read_rows(lines: Iterable[str] | Iterable[bytes]) -> Iterator[BatchRow]:
    """Read a users CSV file one row at a time.

    The header is read at once, so a file without an e-mail column fails
    here, before anything is sent; data rows are read as they are asked for.
    Header names are matched case-insensitively, ignoring ``-``, ``_`` and
    spaces: ``email``, ``e-mail``, ``gridyUser`` or ``user`` for the address;
    optionally ``ref`` or ``id``; ``challenge_type`` or ``type``; ``ip`` or
    ``ip_address``. Other columns are ignored. Entirely blank lines are
    skipped. A row with more or fewer cells than the header, an empty e-mail
    cell, or bytes that are not UTF-8 comes back with a ``problem``, which
    `run_batch` records as invalid without sending.

    Args:
        lines: The file's lines: a file opened in binary mode (UTF-8, with or
            without a byte order mark), or text lines read with
            ``newline=""``.

    Returns:
        An iterator of rows, in file order.

    Raises:
        ConfigurationError: The file is empty, its header cannot be read, or
            no header names the e-mail column.
    """
    reader = csv.reader(_text_lines(lines), strict=True)
    columns, width = _read_header(reader)
    return _data_rows(reader, columns, width)


def _text_lines(lines: Iterable[str] | Iterable[bytes]) -> Iterator[str]:
    first = True
    for line in lines:
        # Undecodable bytes become lone surrogates, caught per row later, so
        # one bad byte costs one row rather than the whole run.
        text = (
            line.decode("utf-8", "surrogateescape") if isinstance(line, bytes) else line
        )
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text


def _read_header(reader: Reader) -> tuple[dict[str, int], int]:
    try:
        header: list[str] = next(row for row in reader if row)
    except StopIteration:
        raise ConfigurationError(
            "the file is empty; its first row must name the columns"
        ) from None
    except csv.Error as exc:
        raise ConfigurationError(
            f"line {reader.line_num}: cannot read the header row: {exc}"
        ) from None

    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        field = _COLUMNS.get(re.sub(r"[^a-z0-9]", "", name.lower()))
        if field is None:
            continue
        if field in columns:
            raise ConfigurationError(
                f"columns {header[columns[field]]!r} and {name!r} both name the "
                f"{field.replace('_', ' ')}; keep one"
            )
        columns[field] = index

    if "user" not in columns:
        found = ", ".join(repr(name) for name in header)
        hint = "; the file must be comma-separated" if ";" in "".join(header) else ""
        raise ConfigurationError(
            "no column names the e-mail address; call it email, e-mail, "
            f"gridyUser or user (the header has {found}){hint}"
        )
    return columns, len(header)


def _data_rows(
    reader: Reader, columns: dict[str, int], width: int
) -> Iterator[BatchRow]:
    last_line: int = reader.line_num
    while True:
        start = last_line + 1
        try:
            cells: list[str] = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num == last_line:
                raise ConfigurationError(f"line {start}: {exc}") from None
            last_line = reader.line_num
            problem = f"malformed CSV: {exc}{_span(start, last_line)}"
            yield BatchRow(line=start, user="", problem=problem)
            continue

        last_line = reader.line_num
        if cells:
            yield _make_row(cells, columns, width, start, last_line)


def _make_row(
    cells: list[str], columns: dict[str, int], width: int, start: int, end: int
) -> BatchRow:
    def cell(field: str) -> str:
        index = columns.get(field)
        text = cells[index].strip() if index is not None and index < len(cells) else ""
        # Undecodable bytes (kept as lone surrogates) become U+FFFD, so the
        # row's outcome can still be written as UTF-8.
        return _NOT_UTF8.sub("\ufffd", text)

    problem = None
    if len(cells) != width:
        problem = (
            f"malformed CSV: the row has {_cells(len(cells))} but the header "
            f"has {_cells(width)}{_span(start, end)}"
        )
    elif any(_NOT_UTF8.search(text) for text in cells):
        problem = "the row is not valid UTF-8"
    elif not cell("user"):
        problem = "user: the e-mail cell is empty"

    return BatchRow(
        line=start,
        user=cell("user"),
        ref=cell("ref") or None,
        challenge_type=cell("challenge_type") or None,
        ip_address=cell("ip_address") or None,
        problem=problem,
    )


def _span(start: int, end: int) -> str:
    return f" (it runs over lines {start}-{end}: a stray quote?)" if end > start else ""


def _cells(count: int) -> str:
    return f"{count} cell" if count == 1 else f"{count} cells"


# --- Sending ----------------------------------------------------------------


async def run_batch(
    client: ChallengeSender,
    rows: Iterable[BatchRow] | AsyncIterable[BatchRow],
    *,
    concurrency: int = 8,
    on_outcome: Callable[[RowOutcome], object] | None = None,
    summary: BatchSummary | None = None,
) -> BatchSummary:
    """Send a challenge for every row, at most ``concurrency`` at a time.

    Every row gets exactly one outcome, passed to ``on_outcome`` as soon as
    it is known. A row that repeats an earlier row's e-mail address (compared
    case-insensitively) is not sent: it is ``invalid``, naming the earlier
    line; for this, each address seen is remembered until the run ends.

    If the run is cancelled, every send in flight is recorded as ``unknown``
    before the cancellation goes on; rows not yet read get no outcome, and
    ``summary.interrupted`` is set.

    Args:
        client: Sends the challenges; normally a `GridyClient`.
        rows: The rows, from `read_rows` or any other source, in file order.
        concurrency: How many sends may be in flight at once.
        on_outcome: Called with each outcome; it must not block for long.
        summary: Counts to update, so a caller keeps them even if the run is
            cancelled; a new one when None.

    Returns:
        The summary of every outcome.

    Raises:
        ConfigurationError: ``concurrency`` is below 1.
        asyncio.CancelledError: The run was cancelled.
    """
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be 1 or more, got {concurrency}")
    summary = summary if summary is not None else BatchSummary()
    batch = _Batch(client, rows, on_outcome, summary)

    workers = [asyncio.create_task(batch.work()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        # Stop the other workers too, and let each record its send in flight.
        batch.summary.interrupted = True
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return batch.summary


class _Batch:
    """The state the workers of one run share."""

    def __init__(
        self,
        client: ChallengeSender,
        rows: Iterable[BatchRow] | AsyncIterable[BatchRow],
        on_outcome: Callable[[RowOutcome], object] | None,
        summary: BatchSummary,
    ) -> None:
        self.summary = summary
        self._client = client
        self._rows: AsyncIterator[BatchRow] = (
            rows.__aiter__() if isinstance(rows, AsyncIterable) else _SyncRows(rows)
        )
        self._on_outcome = on_outcome
        self._pull_lock = asyncio.Lock()
        self._first_line: dict[str, int] = {}

    async def work(self) -> None:
        """Pull rows and settle them until none are left."""
        while (pulled := await self._pull()) is not None:
            # Invalid rows, and sends refused before any I/O, never reach an
            # await that suspends: yield once a row, so signals, cancellation
            # and the other workers are served even in a long run of them.
            await asyncio.sleep(0)
            row, problem = pulled
            if problem is None:
                await self._send(row)
            else:
                self._record(_invalid(row, problem))

    async def _pull(self) -> tuple[BatchRow, str | None] | None:
        async with self._pull_lock:
            try:
                row = await self._rows.__anext__()
            except StopAsyncIteration:
                return None
            # Screened while the lock is held, so "earlier" means earlier in
            # the file, whatever order the sends finish in.
            return row, self._screen(row)

    def _screen(self, row: BatchRow) -> str | None:
        if row.problem is not None:
            return row.problem
        # Checked here as the client would check them, so that only a row
        # that will really be sent claims its address: an invalid row must
        # not make a later, valid row for the same user a duplicate.
        try:
            _check_row(row)
        except ValidationError as exc:
            return str(exc)
        key = row.user.casefold()
        first = self._first_line.setdefault(key, row.line)
        if first != row.line:
            return (
                f"user: duplicate of line {first} (e-mail addresses are compared "
                "case-insensitively); not sent again"
            )
        return None

    async def _send(self, row: BatchRow) -> None:
        try:
            accepted = await self._client.send_challenge(
                row.user,
                challenge_type=row.challenge_type or ChallengeType.USER_KEY_AND_PATTERN,
                # A batch has nowhere to show a QR code; the push is the point.
                enable_qr_code=False,
                ip_address=row.ip_address,
                ref=row.ref,
            )
        except asyncio.CancelledError:
            self._record(_cancelled(row))
            raise
        except Exception as exc:
            outcome = _failed(row, exc)
        else:
            outcome = _outcome(
                row, "accepted", challenge_id=accepted.challenge_id, code=_ACCEPTED_CODE
            )
        self._record(outcome)

    def _record(self, outcome: RowOutcome) -> None:
        self.summary.add(outcome)
        if self._on_outcome is not None:
            self._on_outcome(outcome)


class _SyncRows:
    """An async iterator over a plain iterable of rows."""

    def __init__(self, rows: Iterable[BatchRow]) -> None:
        self._rows = iter(rows)

    def __aiter__(self) -> _SyncRows:
        return self

    async def __anext__(self) -> BatchRow:
        try:
            return next(self._rows)
        except StopIteration:
            raise StopAsyncIteration from None


def _outcome(row: BatchRow, kind: OutcomeKind, **details: Any) -> RowOutcome:
    return RowOutcome(
        line=row.line, user=row.user or None, ref=row.ref, outcome=kind, **details
    )


def _check_row(row: BatchRow) -> None:
    check_email(row.user)
    check_ref(row.ref)
    check_ipv4(row.ip_address)
    if row.challenge_type is not None:
        check_enum(ChallengeType, row.challenge_type, "challenge_type")


def _invalid(row: BatchRow, problem: str) -> RowOutcome:
    return _outcome(row, "invalid", error="ValidationError", message=problem)


def _cancelled(row: BatchRow) -> RowOutcome:
    return _outcome(
        row,
        "unknown",
        error="CancelledError",
        message=(
            "the run was cancelled while this request was in flight; it may "
            "have reached Gridy, so the user may have a push"
        ),
    )


def _failed(row: BatchRow, exc: Exception) -> RowOutcome:
    kind: OutcomeKind
    code = None
    if isinstance(exc, ValidationError):
        kind = "invalid"
    elif isinstance(exc, (ConnectError, ClientClosedError, StampError)):
        kind = "not_sent"  # each is raised before a byte leaves
    elif isinstance(exc, RateLimitedError):
        kind = "not_sent"  # refused unprocessed: the row wants sending again
    elif isinstance(exc, ApiError):
        kind, code = "rejected", exc.code
    else:
        # OutcomeUnknownError, and anything unforeseen: it may have gone out.
        kind = "unknown"
    return _outcome(row, kind, code=code, error=type(exc).__name__, message=str(exc))
