"""The gridy-async command: send, cancel, batch, sandbox, exit statuses, QR."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno
from PIL import Image

from gridy_async import GridyClient
from gridy_async._cli import main
from gridy_async._terminal_qr import qr_modules, render_qr
from gridy_async.testing import GridySandbox

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples" / "users.csv"
CANARY = "CANARY-s3cr3t-d0-not-print"

Matrix = list[list[bool]]
Process = subprocess.Popen[str]


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GRIDY_* variables, whatever the developer's shell has."""
    for name in ("GRIDY_API_USER", "GRIDY_API_SECRET", "GRIDY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def segno_matrix(content: str, *, micro: bool = False) -> Matrix:
    """Segno's own modules for ``content`` (True is dark)."""
    qr = segno.make(content, micro=micro)
    return [[bool(module) for module in row] for row in qr.matrix]


def segno_png(
    content: str, options: dict[str, object], *, micro: bool = False
) -> bytes:
    """``content`` as a QR code PNG drawn by segno with save ``options``."""
    buffer = io.BytesIO()
    segno.make(content, micro=micro).save(buffer, kind="png", **options)
    return buffer.getvalue()


def read_half_blocks(lines: list[str], border: int) -> Matrix:
    """Undo render_qr: two module rows per line, quiet zone removed."""
    tops = {" ": False, "\u2580": True, "\u2584": False, "\u2588": True}
    bottoms = {" ": False, "\u2580": False, "\u2584": True, "\u2588": True}
    rows: Matrix = []
    for line in lines:
        rows.append([tops[char] for char in line])
        rows.append([bottoms[char] for char in line])
    side = len(lines[0]) - 2 * border
    return [row[border : border + side] for row in rows[border : border + side]]


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def json_lines(path: Path) -> list[dict[str, object]]:
    """The records of a results file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- QR codes in the terminal -----------------------------------------------


@pytest.mark.parametrize(
    ("content", "options"),
    [
        ("https://gridy.example.com/qr/4f1c", {"scale": 1, "border": 0}),
        ("https://gridy.example.com/qr/4f1c", {"scale": 4, "border": 4}),
        ("x" * 300, {"scale": 3, "border": 2}),
        ("https://gridy.example.com/qr/4f1c", {"scale": 5, "light": None}),
        ("https://gridy.example.com/qr/4f1c", {"scale": 2, "dark": "darkblue"}),
    ],
    ids=["unscaled", "sandbox-like", "large", "transparent", "coloured"],
)
def test_qr_modules_match_segno(content: str, options: dict[str, object]) -> None:
    """Reading a segno PNG back gives exactly segno's module matrix."""
    png = segno_png(content, options)

    assert qr_modules(png) == segno_matrix(content)


def test_qr_modules_reads_micro_qr() -> None:
    """A Micro QR code (one finder pattern) reads back too."""
    png = segno_png("4f1c", {"scale": 3}, micro=True)

    assert qr_modules(png) == segno_matrix("4f1c", micro=True)


@pytest.mark.parametrize("colour", ["white", "black"])
def test_qr_modules_refuses_an_image_without_a_qr_code(colour: str) -> None:
    """A plain image is reported as no QR code, not drawn as noise."""
    buffer = io.BytesIO()
    Image.new("L", (40, 40), colour).save(buffer, format="PNG")

    with pytest.raises(ValueError, match=r"blank|QR"):
        qr_modules(buffer.getvalue())


def test_render_qr_draws_every_module() -> None:
    """The half-block drawing holds the matrix, two rows a line, with its border."""
    matrix = segno_matrix("https://gridy.example.com/qr/4f1c")

    lines = render_qr(matrix, border=3)

    assert len(lines) == (len(matrix) + 6 + 1) // 2
    assert {len(line) for line in lines} == {len(matrix) + 6}
    assert read_half_blocks(lines, border=3) == matrix


# --- send and cancel --------------------------------------------------------


def test_send_with_sandbox_prints_id_and_draws_qr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`send --sandbox` prints the challenge id, the QR URL and a scannable QR."""
    status = main(["send", "ann@example.com", "--sandbox"])

    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert len(out[0]) >= 16
    assert " " not in out[0]
    assert out[1].startswith("QR code: http://127.0.0.1:")
    drawn = read_half_blocks(out[2:], border=4)
    assert len(drawn) >= 21
    assert drawn[0][:7] == [True] * 7  # the top edge of a finder pattern


def test_send_qr_png_writes_the_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--qr-png writes Gridy's PNG to the file instead of drawing it."""
    path = tmp_path / "qr.png"

    status = main(["send", "ann@example.com", "--sandbox", "--qr-png", str(path)])

    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert len(out) == 2
    assert len(qr_modules(path.read_bytes())) >= 21


def test_send_no_qr_prints_only_id_and_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--no-qr asks for no image, so nothing is drawn (SDK dialect too)."""
    status = main(
        ["send", "ann@example.com", "--sandbox", "--no-qr", "--dialect", "sdk"]
    )

    assert status == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_send_options_reach_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    """Every send option is accepted and the challenge goes through."""
    status = main(
        [
            "send",
            "ann@example.com",
            "--sandbox",
            "--no-qr",
            "--type",
            "UserKeyAndUserPin",
            "--expiry",
            "ThreeMins",
            "--auto-verify",
            "--profile",
            "DEFAULT",
            "--ip",
            "203.0.113.7",
            "--ref",
            "R1",
        ]
    )

    assert status == 0
    assert capsys.readouterr().out.strip()


def test_send_invalid_address_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An invalid address exits 2 with one error line and no traceback."""
    status = main(["send", "dave@@example.org", "--sandbox"])

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("gridy-async: error: user:")
    assert err.count("\n") == 1


def test_qr_png_and_no_qr_conflict(capsys: pytest.CaptureFixture[str]) -> None:
    """--no-qr and --qr-png together are a usage error."""
    status = main(["send", "a@example.com", "--sandbox", "--no-qr", "--qr-png", "q"])

    assert status == 2
    assert "not allowed with" in capsys.readouterr().err


async def test_cancel_against_a_running_sandbox(
    sandbox: GridySandbox,
    client: GridyClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cancel` with environment credentials cancels a challenge; a second
    cancel is refused with exit status 1."""
    accepted = await client.send_challenge("ann@example.com")
    monkeypatch.setenv("GRIDY_API_USER", sandbox.api_user)
    monkeypatch.setenv("GRIDY_API_SECRET", sandbox.api_secret)
    monkeypatch.setenv("GRIDY_BASE_URL", sandbox.url)
    argv = ["cancel", accepted.challenge_id, "ann@example.com", "--ref", "R1"]

    first = await asyncio.to_thread(main, argv)
    second = await asyncio.to_thread(main, argv)

    captured = capsys.readouterr()
    assert first == 0
    assert captured.out == f"{accepted.challenge_id} CANCELLED\n"
    assert second == 1
    assert "code -2035" in captured.err


async def test_the_secret_is_never_printed(
    sandbox: GridySandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A wrong secret fails with exit 1, and the secret appears nowhere, even
    with --verbose."""
    monkeypatch.setenv("GRIDY_API_SECRET", CANARY)
    argv = ["send", "ann@example.com", "-v"]
    argv += ["--api-user", sandbox.api_user, "--base-url", sandbox.url]

    status = await asyncio.to_thread(main, argv)

    captured = capsys.readouterr()
    assert status == 1
    assert "code -4037" in captured.err
    assert "send_challenge for a***@example.com" in captured.err  # --verbose
    assert CANARY not in captured.out + captured.err


@pytest.mark.usefixtures("no_credentials")
def test_missing_credentials_are_a_configuration_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without credentials or --sandbox, exit 2 naming the variables to set."""
    status = main(["send", "ann@example.com"])

    err = capsys.readouterr().err
    assert status == 2
    assert "GRIDY_API_USER and GRIDY_API_SECRET" in err


def test_plain_http_to_a_remote_host_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unsafe --base-url is refused with exit 2 before anything is sent."""
    monkeypatch.setenv("GRIDY_API_USER", "123456789")
    monkeypatch.setenv("GRIDY_API_SECRET", CANARY)

    status = main(["send", "a@example.com", "--base-url", "http://gridy.example.com"])

    err = capsys.readouterr().err
    assert status == 2
    assert "plain http to a remote host" in err
    assert CANARY not in err


def test_sandbox_with_api_user_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--sandbox has its own credentials; --api-user beside it is refused."""
    status = main(["cancel", "c1", "a@example.com", "--sandbox", "--api-user", "1"])

    assert status == 2
    assert "--sandbox brings its own credentials" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "status"), [(["--help"], 0), (["--version"], 0)])
def test_help_and_version_exit_zero(argv: list[str], status: int) -> None:
    """--help and --version print and return 0 rather than raising SystemExit."""
    assert main(argv) == status


# --- batch ------------------------------------------------------------------


def test_batch_with_sandbox_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every row of the example file gets one line; invalid rows still count as
    definite outcomes, so the exit status is 0; the summary goes to stderr."""
    out = tmp_path / "out.jsonl"

    status = main(["batch", str(EXAMPLES), "--sandbox", "--out", str(out)])

    records = json_lines(out)
    err = capsys.readouterr().err
    assert status == 0
    assert sorted(int(str(r["line"])) for r in records) == list(range(2, 52))
    assert "accepted 43, invalid 7, rejected 0, not_sent 0, unknown 0" in err
    assert "2025: 43" in err


class Terminal(io.StringIO):
    """A captured stream that claims to be a terminal."""

    def isatty(self) -> bool:
        """Say yes, as a terminal would."""
        return True


@pytest.mark.parametrize("flags", [[], ["--no-progress"]], ids=["bar", "no-bar"])
def test_batch_progress_bar_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    """On a terminal, stderr shows a progress bar counting every row, unless
    --no-progress is given."""
    stderr = Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    out = tmp_path / "out.jsonl"

    status = main(["batch", str(EXAMPLES), "--sandbox", "--out", str(out), *flags])

    assert status == 0
    assert ("50/50" in stderr.getvalue()) == (not flags)
    assert "accepted 43" in stderr.getvalue()


@pytest.mark.usefixtures("no_credentials")
def test_batch_exits_one_when_gridy_is_unreachable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """When nothing listens, valid rows are not_sent and the exit status is 1."""
    monkeypatch.setenv("GRIDY_API_USER", "123456789")
    monkeypatch.setenv("GRIDY_API_SECRET", "s3cr3t")
    out = tmp_path / "out.jsonl"
    base_url = f"http://127.0.0.1:{free_port()}"

    status = main(["batch", str(EXAMPLES), "--base-url", base_url, "--out", str(out)])

    outcomes = [record["outcome"] for record in json_lines(out)]
    assert status == 1
    assert outcomes.count("not_sent") == 43
    assert outcomes.count("invalid") == 7
    assert "43 rows have no definite outcome" in capsys.readouterr().err


@pytest.fixture
def no_email_csv(tmp_path: Path) -> Path:
    """A CSV file whose header names no e-mail column."""
    path = tmp_path / "names.csv"
    path.write_text("name,phone\nAnn,555\n", encoding="utf-8")
    return path


@pytest.mark.usefixtures("no_credentials")
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing credentials", "GRIDY_API_SECRET"),
        ("unreadable csv", "cannot read"),
        ("no e-mail column", "no column names the e-mail address"),
        ("output exists", "already exists"),
        ("bad concurrency", "--concurrency: must be 1 or more"),
    ],
)
def test_batch_usage_errors_exit_two(
    case: str,
    message: str,
    tmp_path: Path,
    no_email_csv: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Configuration and usage errors exit 2 with one clear line, before any
    row is sent or any results file is created."""
    out = tmp_path / "out.jsonl"
    if case == "output exists":  # a real run: nothing listens on port 9
        monkeypatch.setenv("GRIDY_API_USER", "123456789")
        monkeypatch.setenv("GRIDY_API_SECRET", "s3cr3t")
        monkeypatch.setenv("GRIDY_BASE_URL", "http://127.0.0.1:9")
    argv = {
        "missing credentials": ["batch", str(EXAMPLES), "--out", str(out)],
        "unreadable csv": ["batch", str(tmp_path / "nope.csv"), "--sandbox"],
        "no e-mail column": ["batch", str(no_email_csv), "--sandbox"],
        "output exists": ["batch", str(EXAMPLES)],
        "bad concurrency": ["batch", str(EXAMPLES), "--sandbox", "--concurrency=0"],
    }[case]
    if case != "missing credentials":
        argv += ["--out", str(out)]
    if case == "output exists":
        out.write_text("earlier results\n", encoding="utf-8")

    status = main(argv)

    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert "Traceback" not in err
    assert out.exists() == (case == "output exists")
    if case == "output exists":
        assert out.read_text(encoding="utf-8") == "earlier results\n"


@pytest.mark.parametrize("flag", ["--sandbox", "--overwrite"])
def test_batch_may_replace_output_when_told_or_in_the_sandbox(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--overwrite, or a --sandbox run (no real pushes), replaces an old file."""
    out = tmp_path / "out.jsonl"
    out.write_text("earlier results\n", encoding="utf-8")
    argv = ["batch", str(EXAMPLES), "--out", str(out), "--no-progress", "--sandbox"]
    if flag == "--overwrite":
        argv.append("--overwrite")

    status = main(argv)

    assert status == 0
    assert "earlier results" not in out.read_text(encoding="utf-8")


@contextlib.contextmanager
def running(*args: str, env: dict[str, str] | None = None) -> Iterator[Process]:
    """Run ``python -m gridy_async ARGS`` from the repository root; kill it
    on the way out if the test left it running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gridy_async", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_batch_end_to_end_in_a_subprocess(tmp_path: Path) -> None:
    """`python -m gridy_async batch examples/users.csv --sandbox` settles every
    row over loopback and exits 0."""
    out = tmp_path / "out.jsonl"

    with running(
        "batch", "examples/users.csv", "--sandbox", "--out", str(out)
    ) as child:
        _, err = child.communicate(timeout=60)

    records = json_lines(out)
    assert child.returncode == 0, err
    assert len(records) == 50
    assert len({record["line"] for record in records}) == 50
    assert "accepted 43" in err


@pytest.fixture
def silent_server() -> Iterator[tuple[str, threading.Semaphore]]:
    """A loopback server that reads requests and never answers; the
    semaphore is released once per request received."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    received = threading.Semaphore(0)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)
            connection.settimeout(None)
            if connection.recv(65536):
                received.release()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", received
    stop.set()
    thread.join(timeout=5)
    listener.close()
    for connection in held:
        connection.close()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
def test_batch_interrupted_records_sends_in_flight(
    tmp_path: Path,
    silent_server: tuple[str, threading.Semaphore],
    signal_number: signal.Signals,
) -> None:
    """Ctrl-C or SIGTERM mid-run: the sends in flight are recorded as unknown,
    nothing else is, and the exit status is 1."""
    base_url, received = silent_server
    rows = tmp_path / "users.csv"
    rows.write_text(
        "email\n" + "".join(f"u{n}@example.com\n" for n in range(6)), encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, GRIDY_API_USER="123456789", GRIDY_API_SECRET="s3cr3t")
    argv = ["batch", str(rows), "--out", str(out), "--concurrency", "2"]

    with running(*argv, "--base-url", base_url, env=env) as child:
        for _ in range(2):
            assert received.acquire(timeout=30)
        child.send_signal(signal_number)
        _, err = child.communicate(timeout=30)

    records = json_lines(out)
    assert child.returncode == 1, err
    assert len(records) == 2
    assert {(r["outcome"], r["error"]) for r in records} == {
        ("unknown", "CancelledError")
    }
    assert f"stopped by {signal_number.name}" in err
    assert "Traceback" not in err


async def send_with(settings: dict[str, str]) -> str:
    """Send a challenge with GRIDY_* ``settings``; return its id."""
    async with GridyClient(
        settings["GRIDY_API_USER"],
        settings["GRIDY_API_SECRET"],
        base_url=settings["GRIDY_BASE_URL"],
    ) as client:
        accepted = await client.send_challenge("ann@example.com")
    return accepted.challenge_id


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sandbox_command_serves_until_interrupted() -> None:
    """`sandbox --port 0` prints its URL and credentials, answers a client,
    and exits 0 on Ctrl-C."""
    with running("sandbox", "--port", "0") as child:
        assert child.stdout is not None
        lines = [child.stdout.readline().strip() for _ in range(4)]
        if not all(lines):
            pytest.fail(f"the sandbox did not start: {child.communicate()[1]}")
        settings = dict(
            line.removeprefix("export ").split("=", 1) for line in lines[1:]
        )

        challenge_id = asyncio.run(send_with(settings))
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)

    assert lines[0].startswith("Gridy sandbox listening on http://127.0.0.1:")
    assert challenge_id
    assert child.returncode == 0, err


def test_batch_refuses_to_write_over_its_own_users_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming the users file is a usage error; the file is left as it was."""
    users = tmp_path / "users.csv"
    users.write_text("email\nann@example.com\n", encoding="utf-8")

    status = main(["batch", str(users), "--sandbox", "--out", str(users)])

    assert status == 2
    assert "is the users file itself" in capsys.readouterr().err
    assert users.read_text(encoding="utf-8") == "email\nann@example.com\n"
