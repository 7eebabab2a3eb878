"""Batch dispatch: reading users files, and one outcome for every row."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path

import pytest

from gridy_async import (
    AccountBlockedError,
    ChallengeAccepted,
    ChallengeType,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    GridyClient,
    OutcomeUnknownError,
    RateLimitedError,
    ValidationError,
)
from gridy_async._batch import (
    BatchRow,
    BatchSummary,
    JsonLinesWriter,
    RowOutcome,
    read_rows,
    run_batch,
)
from gridy_async.testing import GridySandbox

EXAMPLES = Path(__file__).parent.parent / "examples" / "users.csv"


class FakeClient:
    """Answers send_challenge after ``delay`` (or never, with ``hang``),
    raising the error scripted for an address, and counts sends in flight."""

    def __init__(
        self,
        *,
        errors: dict[str, Exception] | None = None,
        delay: float = 0.0,
        hang: bool = False,
    ) -> None:
        self.errors = errors or {}
        self.delay = delay
        self.hang = hang
        self.sent: list[str] = []
        self.in_flight = 0
        self.peak = 0
        self._changed = asyncio.Condition()

    async def wait_in_flight(self, count: int) -> None:
        """Wait until ``count`` sends are in flight."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight >= count)

    async def send_challenge(
        self,
        user: str,
        *,
        challenge_type: ChallengeType | str = ChallengeType.USER_KEY_AND_PATTERN,
        enable_qr_code: bool = True,
        ip_address: str | None = None,
        ref: str | None = None,
    ) -> ChallengeAccepted:
        """Send, as far as the test is concerned."""
        self.sent.append(user)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        async with self._changed:
            self._changed.notify_all()
        try:
            await (asyncio.Event().wait() if self.hang else asyncio.sleep(self.delay))
            if user in self.errors:
                raise self.errors[user]
            return ChallengeAccepted(challenge_id=f"id-{user}", qr_code_url=None)
        finally:
            self.in_flight -= 1


def csv_rows(text: str) -> list[BatchRow]:
    """All rows of a CSV file given as text."""
    return list(read_rows(io.BytesIO(text.encode())))


def users(count: int, start_line: int = 2) -> list[BatchRow]:
    """``count`` distinct, valid rows."""
    return [
        BatchRow(line=start_line + n, user=f"user{n}@example.com") for n in range(count)
    ]


async def run(
    client: FakeClient,
    rows: Iterable[BatchRow] | AsyncIterable[BatchRow],
    concurrency: int = 4,
) -> tuple[list[RowOutcome], BatchSummary]:
    """Run a batch; return its outcomes, in completion order, and summary."""
    outcomes: list[RowOutcome] = []
    summary = await run_batch(
        client, rows, concurrency=concurrency, on_outcome=outcomes.append
    )
    return outcomes, summary


# --- Reading ----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "email,ref,challenge_type,ip",
        "E-Mail,ID,challengeType,ipAddress",
        "gridyUser,Ref,Type,IP_ADDRESS",
        "USER,id,type,ip_address",
    ],
)
def test_header_names_are_matched_loosely(header: str) -> None:
    """Every documented spelling of every column is recognised, in any case."""
    rows = csv_rows(f"{header}\nann@example.com,R1,UserKeyAndUserPin,203.0.113.7\n")

    assert rows == [
        BatchRow(
            line=2,
            user="ann@example.com",
            ref="R1",
            challenge_type="UserKeyAndUserPin",
            ip_address="203.0.113.7",
        )
    ]


def test_only_an_email_column_is_required() -> None:
    """Optional columns may be absent, and unknown columns are ignored."""
    rows = csv_rows("name,email\nAnn,ann@example.com\n")

    assert rows == [BatchRow(line=2, user="ann@example.com")]


def test_empty_cells_become_none_and_cells_are_stripped() -> None:
    """Blank optional cells mean "use the default"; spaces around cells go."""
    rows = csv_rows("email,ref,type,ip\n  ann@example.com , ,,\n")

    assert rows == [BatchRow(line=2, user="ann@example.com")]


def test_a_file_without_an_email_column_is_refused() -> None:
    """The header is checked at once, naming the columns it does have."""
    with pytest.raises(ConfigurationError, match=r"e-mail.*'name', 'phone'"):
        read_rows(io.BytesIO(b"name,phone\nAnn,555\n"))


def test_an_empty_file_is_refused() -> None:
    """A file without even a header row cannot be a users file."""
    with pytest.raises(ConfigurationError, match="empty"):
        read_rows(io.BytesIO(b"\n\n"))


def test_an_unreadable_header_is_refused() -> None:
    """A header row that is not valid CSV is a configuration error."""
    with pytest.raises(ConfigurationError, match="cannot read the header row"):
        read_rows(io.BytesIO(b'"email,ref\n'))


def test_two_columns_for_one_field_are_refused() -> None:
    """Two columns naming the address leave it unclear which to send to."""
    with pytest.raises(ConfigurationError, match="'email' and 'user'"):
        read_rows(io.BytesIO(b"email,user\na@example.com,b@example.com\n"))


def test_byte_order_mark_and_crlf_are_handled() -> None:
    """A spreadsheet's UTF-8 export (BOM, CRLF line ends) reads cleanly."""
    data = "\ufeffemail,ref\r\nann@example.com,R1\r\n".encode()

    assert list(read_rows(io.BytesIO(data))) == [
        BatchRow(line=2, user="ann@example.com", ref="R1")
    ]


def test_text_lines_are_accepted() -> None:
    """Lines already decoded to text read the same as bytes."""
    rows = list(read_rows(["email\n", "ann@example.com\n"]))

    assert rows == [BatchRow(line=2, user="ann@example.com")]


def test_line_numbers_are_the_lines_of_the_file() -> None:
    """Blank lines are skipped but counted; a quoted line break spans lines."""
    rows = csv_rows('email,ref\n\nann@example.com,"two\nlines"\nbob@example.com,R\n')

    assert [(row.line, row.user) for row in rows] == [
        (3, "ann@example.com"),
        (5, "bob@example.com"),
    ]


def test_a_row_missing_its_email_cell_has_a_problem() -> None:
    """A row too short to reach the e-mail column is malformed, not dropped."""
    (row,) = csv_rows("ref,email\nR1\n")

    assert row.line == 2
    assert row.user == ""
    assert row.problem is not None
    assert "1 cell but the header has 2" in row.problem


def test_a_row_with_extra_cells_has_a_problem() -> None:
    """Extra cells (an unquoted comma?) could shift values; the row is held."""
    (row,) = csv_rows("email,ref\nann@example.com,R,1\n")

    assert row.problem is not None
    assert "3 cells but the header has 2" in row.problem


def test_an_empty_email_cell_is_a_problem() -> None:
    """A row with cells but no address is reported, not skipped."""
    (row,) = csv_rows("email,ref\n,R9\n")

    assert row == BatchRow(
        line=2, user="", ref="R9", problem="user: the e-mail cell is empty"
    )


def test_invalid_utf8_spoils_only_its_row() -> None:
    """An undecodable byte marks its own row, and the rows around it survive."""
    data = b"email\nann@example.com\nb\xffb@example.com\ncid@example.com\n"

    rows = list(read_rows(io.BytesIO(data)))

    assert [row.problem for row in rows] == [None, "the row is not valid UTF-8", None]


def test_a_stray_quote_names_the_lines_it_swallowed() -> None:
    """An unbalanced quote eats following lines; the problem says which."""
    (row,) = csv_rows('email,ref\nann@example.com,"R1\nbob@example.com,R2\n')

    assert row.problem is not None
    assert "lines 2-3" in row.problem


# --- Sending ----------------------------------------------------------------


async def test_every_row_gets_exactly_one_outcome() -> None:
    """Good, malformed and duplicate rows each end as exactly one outcome."""
    rows = [
        *users(20),
        BatchRow(line=30, user="", problem="user: the e-mail cell is empty"),
        BatchRow(line=31, user="USER3@example.com"),
    ]
    client = FakeClient(delay=0.001)

    outcomes, summary = await run(client, rows)

    assert sorted(o.line for o in outcomes) == [row.line for row in rows]
    assert summary.total == 22
    assert summary.by_outcome == {"accepted": 20, "invalid": 2}
    assert summary.by_code == {2025: 20}
    assert summary.definite
    assert sorted(client.sent) == sorted(row.user for row in users(20))


async def test_accepted_outcome_carries_the_challenge_id() -> None:
    """An accepted row records Gridy's challenge id, code 2025 and its ref."""
    row = BatchRow(line=2, user="ann@example.com", ref="R1")

    outcomes, _ = await run(FakeClient(), [row])

    assert outcomes == [
        RowOutcome(
            line=2,
            user="ann@example.com",
            ref="R1",
            outcome="accepted",
            challenge_id="id-ann@example.com",
            code=2025,
        )
    ]


@pytest.mark.parametrize(
    ("error", "outcome", "code"),
    [
        (ValidationError("user", "is not an address"), "invalid", None),
        (
            AccountBlockedError("blocked", http_status=400, code=-2004),
            "rejected",
            -2004,
        ),
        (RateLimitedError("slow down"), "not_sent", None),
        (ConnectError("refused"), "not_sent", None),
        (ClientClosedError("closed"), "not_sent", None),
        (OutcomeUnknownError("timed out", operation="send_challenge"), "unknown", None),
        (RuntimeError("a bug"), "unknown", None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
async def test_errors_become_outcomes(
    error: Exception, outcome: str, code: int | None
) -> None:
    """Each kind of failure maps to its outcome, with class name and message."""
    client = FakeClient(errors={"ann@example.com": error})

    (result,), summary = await run(client, [BatchRow(line=7, user="ann@example.com")])

    assert (result.outcome, result.code) == (outcome, code)
    assert result.error == type(error).__name__
    assert result.message == str(error)
    assert result.definite == (outcome in ("invalid", "rejected"))
    assert summary.definite == (outcome in ("invalid", "rejected"))


async def test_a_duplicate_address_is_not_sent_again() -> None:
    """A later row with the same address, in any case, is invalid and unsent."""
    rows = [
        BatchRow(line=2, user="ann@example.com"),
        BatchRow(line=3, user="bob@example.com"),
        BatchRow(line=4, user="Ann@Example.COM"),
    ]
    client = FakeClient()

    outcomes, _ = await run(client, rows)

    (duplicate,) = [o for o in outcomes if o.line == 4]
    assert duplicate.outcome == "invalid"
    assert duplicate.message is not None
    assert "duplicate of line 2" in duplicate.message
    assert sorted(client.sent) == ["ann@example.com", "bob@example.com"]


async def test_the_first_of_two_duplicates_wins_even_if_slow() -> None:
    """ "Earlier" means earlier in the file, not first to finish."""
    rows = [
        BatchRow(line=2, user="ann@example.com"),
        BatchRow(line=3, user="ann@example.com"),
    ]
    client = FakeClient(delay=0.01)

    outcomes, _ = await run(client, rows, concurrency=2)

    assert {o.line: o.outcome for o in outcomes} == {2: "accepted", 3: "invalid"}


@pytest.mark.parametrize("concurrency", [1, 3, 8])
async def test_concurrency_bound_is_respected(concurrency: int) -> None:
    """No more than ``concurrency`` sends are ever in flight, and the bound is
    reached when there is work enough."""
    client = FakeClient(delay=0.002)

    outcomes, _ = await run(client, users(40), concurrency=concurrency)

    assert len(outcomes) == 40
    assert client.peak == concurrency


async def test_concurrency_one_sends_in_file_order() -> None:
    """With one worker, rows go out in the order of the file."""
    client = FakeClient()

    await run(client, users(10), concurrency=1)

    assert client.sent == [row.user for row in users(10)]


async def test_concurrency_below_one_is_refused() -> None:
    """Zero workers would never finish; it is a configuration error."""
    with pytest.raises(ConfigurationError, match="concurrency"):
        await run_batch(FakeClient(), users(1), concurrency=0)


async def test_rows_are_pulled_lazily() -> None:
    """Workers pull rows as they go: a source is never read far ahead."""
    pulled: list[int] = []

    def source() -> Iterator[BatchRow]:
        for row in users(100):
            pulled.append(row.line)
            yield row

    client = FakeClient(hang=True)
    task = asyncio.create_task(run_batch(client, source(), concurrency=5))
    await client.wait_in_flight(5)

    assert len(pulled) == 5
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_async_iterable_source_works() -> None:
    """Rows may come from an async iterator, pulled by all workers in turn."""

    async def source() -> AsyncIterator[BatchRow]:
        for row in users(12):
            await asyncio.sleep(0)
            yield row

    outcomes, summary = await run(FakeClient(), source())

    assert sorted(o.line for o in outcomes) == list(range(2, 14))
    assert summary.by_outcome["accepted"] == 12


async def test_cancellation_records_sends_in_flight_as_unknown() -> None:
    """On cancel, each send in flight becomes one "unknown" outcome and the
    cancellation still propagates; unread rows get none."""
    client = FakeClient(hang=True)
    outcomes: list[RowOutcome] = []
    summary = BatchSummary()
    task = asyncio.create_task(
        run_batch(
            client,
            users(10),
            concurrency=3,
            on_outcome=outcomes.append,
            summary=summary,
        )
    )
    await client.wait_in_flight(3)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert sorted(o.line for o in outcomes) == [2, 3, 4]
    assert {(o.outcome, o.error) for o in outcomes} == {("unknown", "CancelledError")}
    assert summary.interrupted
    assert not summary.definite


async def test_a_failing_source_stops_the_run_and_records_sends_in_flight() -> None:
    """If reading rows fails, the error surfaces and sends in flight are still
    recorded (as unknown), not lost."""

    def source() -> Iterator[BatchRow]:
        yield from users(2)
        raise OSError("disk gone")

    client = FakeClient(hang=True)
    outcomes: list[RowOutcome] = []

    with pytest.raises(OSError, match="disk gone"):
        await run_batch(client, source(), concurrency=4, on_outcome=outcomes.append)

    assert sorted((o.line, o.outcome) for o in outcomes) == [
        (2, "unknown"),
        (3, "unknown"),
    ]


def test_summary_definite_needs_every_row_settled() -> None:
    """Not-sent and unknown rows, or an interrupted run, make it indefinite."""
    summary = BatchSummary()
    for kind in ("accepted", "invalid", "rejected"):
        summary.add(RowOutcome(line=2, user="a@example.com", ref=None, outcome=kind))
    assert summary.definite

    summary.interrupted = True
    assert not summary.definite
    summary.interrupted = False
    summary.add(RowOutcome(line=3, user="b@example.com", ref=None, outcome="not_sent"))
    assert not summary.definite


def test_json_lines_writer_flushes_each_outcome(tmp_path: Path) -> None:
    """Each outcome is on disk as one JSON line before the next is written."""
    path = tmp_path / "out.jsonl"
    outcome = RowOutcome(
        line=2, user="ann@example.com", ref="R1", outcome="rejected", code=-2004
    )

    with path.open("w", encoding="utf-8") as out:
        JsonLinesWriter(out)(outcome)
        on_disk = path.read_text(encoding="utf-8")

    assert on_disk.endswith("\n")
    assert json.loads(on_disk) == {
        "line": 2,
        "user": "ann@example.com",
        "ref": "R1",
        "outcome": "rejected",
        "challenge_id": None,
        "code": -2004,
        "error": None,
        "message": None,
    }


# --- Against the sandbox ----------------------------------------------------

EXAMPLE_INVALID = {
    22: "not a valid e-mail address",  # no @
    27: "not a valid e-mail address",  # @@
    30: "ref: is 39 characters long",
    32: "ip_address: '300.12.7.1' is not an IPv4 address",
    34: "challenge_type: 'UserKeyAndRetina' is not one of",
    37: "duplicate of line 2",
    41: "the e-mail cell is empty",
}


async def test_example_file_against_the_sandbox(
    sandbox: GridySandbox, client: GridyClient
) -> None:
    """Every row of examples/users.csv gets one outcome: the valid ones are
    accepted with a challenge id the sandbox knows, the others are invalid
    with a message saying why, and only valid rows reach the sandbox."""
    outcomes: list[RowOutcome] = []

    with EXAMPLES.open("rb") as source:
        summary = await run_batch(
            client, read_rows(source), concurrency=8, on_outcome=outcomes.append
        )

    assert sorted(o.line for o in outcomes) == list(range(2, 52))
    invalid = {o.line: o.message for o in outcomes if o.outcome == "invalid"}
    assert invalid.keys() == EXAMPLE_INVALID.keys()
    for line, expected in EXAMPLE_INVALID.items():
        assert expected in str(invalid[line])

    accepted = [o for o in outcomes if o.outcome == "accepted"]
    assert len(accepted) == 43
    assert {o.challenge_id for o in accepted} == set(sandbox.challenges)
    assert summary.definite


async def test_a_long_run_of_invalid_rows_can_still_be_cancelled() -> None:
    """Rows that never reach I/O still yield to the loop, so a cancel lands."""
    rows = (
        BatchRow(line=n, user="", problem="user: the e-mail cell is empty")
        for n in range(2, 1_000_002)
    )
    summary = BatchSummary()
    task = asyncio.create_task(run_batch(FakeClient(), rows, summary=summary))

    for _ in range(50):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert 0 < summary.total < 1_000_000
    assert summary.interrupted


async def test_an_invalid_row_does_not_make_a_later_valid_row_a_duplicate() -> None:
    """Only a row that is really sent claims its address for the run."""
    rows = read_rows(
        io.BytesIO(
            b"email,ref\n"
            b"ann@example.com,this-reference-is-far-too-long-for-gridy\n"
            b"ann@example.com,R2\n"
        )
    )
    client = FakeClient()
    outcomes: list[RowOutcome] = []

    await run_batch(client, rows, on_outcome=outcomes.append)

    by_line = {o.line: o for o in outcomes}
    assert by_line[2].outcome == "invalid"
    assert "ref" in (by_line[2].message or "")
    assert by_line[3].outcome == "accepted"
    assert client.sent == ["ann@example.com"]


async def test_a_row_that_is_not_utf8_is_recorded_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """Undecodable bytes make one invalid row, written as UTF-8; others are sent."""
    raw = (
        b"email,ref\nann@example.com,R1\n\xff\xfe@example.com,R2\nbob@example.com,R3\n"
    )
    out = tmp_path / "out.jsonl"
    client = FakeClient()

    with out.open("w", encoding="utf-8") as stream:
        summary = await run_batch(
            client, read_rows(io.BytesIO(raw)), on_outcome=JsonLinesWriter(stream)
        )

    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["outcome"] for r in sorted(lines, key=lambda r: r["line"])] == [
        "accepted",
        "invalid",
        "accepted",
    ]
    assert summary.definite


def test_a_semicolon_separated_file_is_named_as_such() -> None:
    """A header split by semicolons gets a hint that the file must use commas."""
    with pytest.raises(ConfigurationError, match="comma-separated"):
        read_rows(io.BytesIO(b"email;ref\nann@example.com;R1\n"))
