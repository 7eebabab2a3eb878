"""The ``gridy-async`` command (also ``python -m gridy_async``).

::

    gridy-async send USER [--type T] [--expiry E] [--no-qr | --qr-png FILE] ...
    gridy-async cancel CHALLENGE_ID USER [--ref R]
    gridy-async batch USERS.csv --out FILE.jsonl [--concurrency N] [--no-progress]
    gridy-async sandbox [--host H] [--port P]

``send``, ``cancel`` and ``batch`` talk to Gridy with the credentials in
``GRIDY_API_USER``, ``GRIDY_API_SECRET`` and ``GRIDY_BASE_URL`` (or the
``--api-user`` and ``--base-url`` flags; the secret comes from the environment
only), or with ``--sandbox`` to an embedded sandbox started for the run.

Exit status: 0 success (for ``batch``: every row got a definite outcome,
invalid and rejected rows included); 1 failure (for ``batch``: some row was
not sent or has an unknown outcome, or the run was cut short); 2 usage or
configuration error. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import IO, TYPE_CHECKING

from ._batch import (
    OUTCOME_KINDS,
    BatchRow,
    BatchSummary,
    JsonLinesWriter,
    RowOutcome,
    read_rows,
    run_batch,
)
from ._client import BaseURL, GridyClient
from ._errors import ConfigurationError, GridyError, ValidationError
from ._models import (
    ChallengeAccepted,
    ChallengeCancelled,
    ChallengeExpiry,
    ChallengeType,
    WireDialect,
)
from ._terminal_qr import qr_modules, render_qr
from ._version import __version__

if TYPE_CHECKING:
    from typing import TypeAlias

    from .testing import GridySandbox

    Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

__all__ = ["main"]

PROG = "gridy-async"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_BASE_URLS = {
    "live": BaseURL.LIVE,
    "uat": BaseURL.UAT,
    "sdk-live": BaseURL.SDK_LIVE,
    "sdk-uat": BaseURL.SDK_UAT,
}


class _Failure(Exception):
    """A failure already put into words, with the exit status it calls for."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Args:
        argv: The arguments, without the program name; ``sys.argv[1:]``
            when None.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or EXIT_OK
        return EXIT_USAGE

    with _verbose_logging(args.verbose):
        try:
            status: int = args.run(args)
        except _Failure as exc:
            return _fail(str(exc), exc.status)
        except (ConfigurationError, ValidationError) as exc:
            return _fail(str(exc), EXIT_USAGE)
        except GridyError as exc:
            return _fail(str(exc), EXIT_FAILED)
        except KeyboardInterrupt:
            return _fail("interrupted", EXIT_FAILED)
        except Exception as exc:
            # Never a traceback: it could show more than the user should see.
            return _fail(f"unexpected {type(exc).__name__}: {exc}", EXIT_FAILED)
    return status


def _fail(message: str, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


# --- Arguments --------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Send Gridy ID MFA challenges, one or a CSV file full.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(
        title="commands", metavar="COMMAND", dest="command", required=True
    )
    common = _common_options()
    target = _target_options()

    _add_send(commands, [target, common])
    _add_cancel(commands, [target, common])
    _add_batch(commands, [target, common])
    _add_sandbox(commands, [common])
    return parser


def _common_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "-v", "--verbose", action="store_true", help="log each request to stderr"
    )
    return options


def _target_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group(
        "where requests go",
        "Credentials come from GRIDY_API_USER, GRIDY_API_SECRET and "
        "GRIDY_BASE_URL; the secret is read from the environment only.",
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        help="start an embedded sandbox for this run and use it",
    )
    group.add_argument(
        "--api-user", metavar="ID", help="API user (default: $GRIDY_API_USER)"
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help=f"{', '.join(_BASE_URLS)} or a URL (default: $GRIDY_BASE_URL, else live)",
    )
    group.add_argument(
        "--dialect",
        choices=[dialect.value for dialect in WireDialect],
        default=WireDialect.DOCUMENTED.value,
        help="how requests are spelled on the wire (default: %(default)s)",
    )
    return options


def _add_send(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    send = commands.add_parser(
        "send",
        parents=parents,
        help="send one user a challenge",
        description="Send USER a challenge; print its id and show its QR code.",
    )
    send.add_argument("user", metavar="USER", help="the user's e-mail address")
    send.add_argument(
        "--type",
        choices=[kind.value for kind in ChallengeType],
        default=ChallengeType.USER_KEY_AND_PATTERN.value,
        metavar="T",
        help="challenge type: %(choices)s (default: %(default)s)",
    )
    send.add_argument(
        "--expiry",
        choices=[expiry.value for expiry in ChallengeExpiry],
        default=ChallengeExpiry.FIFTEEN_MINS.value,
        metavar="E",
        help="how long it stays open: %(choices)s (default: %(default)s)",
    )
    qr = send.add_mutually_exclusive_group()
    qr.add_argument("--no-qr", action="store_true", help="do not ask for a QR code")
    qr.add_argument(
        "--qr-png",
        metavar="FILE",
        help="write the QR code PNG to FILE instead of drawing it",
    )
    send.add_argument(
        "--auto-verify", action="store_true", help="have Gridy verify the answer"
    )
    send.add_argument("--profile", metavar="P", help="role profile to assign")
    send.add_argument("--ip", metavar="IP", help="the user's IPv4 address")
    send.add_argument("--ref", metavar="R", help="your reference (max 25 chars)")
    send.set_defaults(run=_cmd_send)


def _add_cancel(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    cancel = commands.add_parser(
        "cancel",
        parents=parents,
        help="cancel a challenge",
        description="Cancel a challenge sent to USER.",
    )
    cancel.add_argument("challenge_id", metavar="CHALLENGE_ID")
    cancel.add_argument("user", metavar="USER", help="the user's e-mail address")
    cancel.add_argument("--ref", metavar="R", help="your reference (max 25 chars)")
    cancel.set_defaults(run=_cmd_cancel)


def _add_batch(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    batch = commands.add_parser(
        "batch",
        parents=parents,
        help="send a challenge to every user in a CSV file",
        description=(
            "Send a challenge to every row of USERS.csv (columns: email, and "
            "optionally ref, challenge_type, ip) and write one JSON line per "
            "row to the --out file as each one settles."
        ),
    )
    batch.add_argument("csv", metavar="USERS.csv")
    batch.add_argument(
        "--out",
        metavar="FILE.jsonl",
        required=True,
        help=(
            "where results go; must not exist yet, unless --overwrite or "
            "--sandbox (whose pushes are not real)"
        ),
    )
    batch.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file"
    )
    batch.add_argument(
        "--concurrency",
        metavar="N",
        type=_positive_int,
        default=8,
        help="sends in flight at once (default: %(default)s)",
    )
    batch.add_argument(
        "--no-progress", action="store_true", help="no progress bar on stderr"
    )
    batch.set_defaults(run=_cmd_batch)


def _add_sandbox(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        parents=parents,
        help="run a local Gridy sandbox until Ctrl-C",
        description="Run a local Gridy sandbox; print its URL and credentials.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    sandbox.add_argument(
        "--port", type=_port, default=8080, help="0 picks a free port (default: 8080)"
    )
    sandbox.set_defaults(run=_cmd_sandbox)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number")
    return value


@contextlib.contextmanager
def _verbose_logging(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return

    # The library's logger only, and only for this run: main() may be called
    # again in the same process.
    logger = logging.getLogger("gridy_async")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# --- Where requests go ------------------------------------------------------


def _target(args: argparse.Namespace) -> AbstractAsyncContextManager[GridyClient]:
    """The client a command talks through, checked before anything starts."""
    if not args.sandbox:
        return _env_client(args)
    if args.api_user or args.base_url:
        raise _Failure(
            "--sandbox brings its own credentials; drop --api-user and --base-url",
            EXIT_USAGE,
        )
    return _sandbox_client(_sandbox_type(), args.dialect)


def _env_client(args: argparse.Namespace) -> GridyClient:
    environ = dict(os.environ)
    if args.api_user:
        environ["GRIDY_API_USER"] = args.api_user
    base_url = args.base_url or environ.get("GRIDY_BASE_URL") or "live"
    environ["GRIDY_BASE_URL"] = _BASE_URLS.get(base_url.lower(), base_url)
    return GridyClient.from_env(environ, dialect=args.dialect)


def _sandbox_type() -> type[GridySandbox]:
    try:
        from .testing import GridySandbox
    except ImportError as exc:
        raise ConfigurationError(
            f"the sandbox cannot start ({exc}); install gridy_async[sandbox]"
        ) from None
    return GridySandbox


@contextlib.asynccontextmanager
async def _sandbox_client(
    sandbox_type: type[GridySandbox], dialect: str
) -> AsyncIterator[GridyClient]:
    async with sandbox_type() as sandbox, sandbox.client(dialect=dialect) as client:
        yield client


@contextlib.contextmanager
def _on_signals(callback: Callable[[str], None]) -> Iterator[None]:
    """Call ``callback`` with the signal's name on SIGINT or SIGTERM.

    Only where the event loop can catch signals (the main thread, POSIX);
    elsewhere Ctrl-C stays a KeyboardInterrupt.
    """
    loop = asyncio.get_running_loop()
    installed = []
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(number, callback, number.name)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(number)
    try:
        yield
    finally:
        for number in installed:
            loop.remove_signal_handler(number)


# --- send and cancel --------------------------------------------------------


def _cmd_send(args: argparse.Namespace) -> int:
    target = _target(args)
    accepted = asyncio.run(_send(target, args))

    print(accepted.challenge_id)
    if accepted.qr_code_url:
        print(f"QR code: {accepted.qr_code_url}")
    if args.no_qr:
        return EXIT_OK

    if accepted.qr_code_png is None:
        print(f"{PROG}: warning: Gridy sent no QR code image", file=sys.stderr)
        return EXIT_FAILED if args.qr_png else EXIT_OK
    if args.qr_png:
        return _write_png(accepted.qr_code_png, args.qr_png)
    _show_qr(accepted.qr_code_png)
    return EXIT_OK


async def _send(
    target: AbstractAsyncContextManager[GridyClient], args: argparse.Namespace
) -> ChallengeAccepted:
    async with target as client:
        return await client.send_challenge(
            args.user,
            challenge_type=args.type,
            expiry=args.expiry,
            enable_qr_code=not args.no_qr,
            enable_auto_verify=args.auto_verify,
            profile=args.profile,
            ip_address=args.ip,
            ref=args.ref,
        )


def _write_png(png: bytes, path: str) -> int:
    try:
        with open(path, "wb") as file:
            file.write(png)
    except OSError as exc:
        raise _Failure(
            f"the challenge was sent, but its QR code could not be written to "
            f"{path}: {exc.strerror or exc}",
            EXIT_FAILED,
        ) from None
    print(f"QR code image written to {path}", file=sys.stderr)
    return EXIT_OK


def _cmd_cancel(args: argparse.Namespace) -> int:
    target = _target(args)
    cancelled = asyncio.run(_cancel(target, args))
    print(f"{cancelled.challenge_id} {cancelled.status}")
    return EXIT_OK


async def _cancel(
    target: AbstractAsyncContextManager[GridyClient], args: argparse.Namespace
) -> ChallengeCancelled:
    async with target as client:
        return await client.cancel_challenge(args.challenge_id, args.user, ref=args.ref)


# --- batch ------------------------------------------------------------------


def _cmd_batch(args: argparse.Namespace) -> int:
    target = _target(args)
    progress = not args.no_progress and sys.stderr.isatty()

    with _open_csv(args.csv) as source:
        rows = _rows_of(source, args.csv)
        total = _count_rows(args.csv) if progress else None
        overwrite = args.overwrite or args.sandbox
        _check_not_same_file(args.csv, args.out)
        output = _create_output(args.out, overwrite=overwrite)
        with output as out, _progress_bar(total, progress) as bar:
            summary = BatchSummary()
            record = _recorder(JsonLinesWriter(out), bar)
            stopped_by, error = _run(target, rows, args.concurrency, record, summary)

    _print_summary(summary, args.out, stopped_by)
    if error is not None:
        return _fail(f"the run stopped early: {_describe(error)}", EXIT_FAILED)
    return EXIT_OK if summary.definite else EXIT_FAILED


def _open_csv(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise _Failure(
            f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE
        ) from None


def _rows_of(source: IO[bytes], path: str) -> Iterator[BatchRow]:
    try:
        return read_rows(source)
    except ConfigurationError as exc:
        raise _Failure(f"{path}: {exc}", EXIT_USAGE) from None
    except OSError as exc:
        raise _Failure(
            f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE
        ) from None


def _count_rows(path: str) -> int:
    with open(path, "rb") as source:
        return sum(1 for _ in read_rows(source))


def _check_not_same_file(users: str, out: str) -> None:
    # Writing results over the file being read would read them back as rows.
    with contextlib.suppress(OSError):
        if os.path.samefile(users, out):
            raise _Failure(f"--out {out} is the users file itself", EXIT_USAGE)


def _create_output(path: str, *, overwrite: bool) -> IO[str]:
    try:
        # An earlier real run's file says who already has a push: keep it
        # unless told otherwise.
        return open(path, "w" if overwrite else "x", encoding="utf-8")
    except FileExistsError:
        raise _Failure(
            f"{path} already exists and may record real pushes; give --out a new "
            "file, or pass --overwrite",
            EXIT_USAGE,
        ) from None
    except OSError as exc:
        raise _Failure(
            f"cannot create {path}: {exc.strerror or exc}", EXIT_USAGE
        ) from None


@contextlib.contextmanager
def _progress_bar(total: int | None, enabled: bool) -> Iterator[Callable[[], None]]:
    try:
        from tqdm import tqdm
    except ImportError:
        if enabled:
            print(f"{PROG}: warning: no progress bar without tqdm", file=sys.stderr)
        enabled = False
    if not enabled:
        yield lambda: None
        return

    with tqdm(total=total, unit="row", file=sys.stderr, dynamic_ncols=True) as bar:

        def advance() -> None:
            bar.update()

        yield advance


def _recorder(
    write: Callable[[RowOutcome], None], advance: Callable[[], None]
) -> Callable[[RowOutcome], None]:
    def record(outcome: RowOutcome) -> None:
        write(outcome)
        advance()

    return record


def _run(
    target: AbstractAsyncContextManager[GridyClient],
    rows: Iterable[BatchRow],
    concurrency: int,
    record: Callable[[RowOutcome], None],
    summary: BatchSummary,
) -> tuple[str | None, Exception | None]:
    """Run the batch; return what stopped it early: a signal's name, an error."""
    try:
        stopped_by = asyncio.run(_dispatch(target, rows, concurrency, record, summary))
    except KeyboardInterrupt:
        # Where the loop cannot catch signals; the workers were still
        # cancelled, so their sends in flight are recorded.
        summary.interrupted = True
        return "SIGINT", None
    except Exception as exc:
        summary.interrupted = True
        return None, exc
    return stopped_by, None


async def _dispatch(
    target: AbstractAsyncContextManager[GridyClient],
    rows: Iterable[BatchRow],
    concurrency: int,
    record: Callable[[RowOutcome], None],
    summary: BatchSummary,
) -> str | None:
    signals: list[str] = []
    async with target as client:
        work = asyncio.create_task(
            run_batch(
                client,
                rows,
                concurrency=concurrency,
                on_outcome=record,
                summary=summary,
            )
        )

        def stop(name: str) -> None:
            if not work.done():
                signals.append(name)
                work.cancel()

        with _on_signals(stop):
            try:
                await work
            except asyncio.CancelledError:
                if not signals:
                    raise
    return signals[0] if signals else None


def _print_summary(summary: BatchSummary, out: str, stopped_by: str | None) -> None:
    by_outcome = ", ".join(
        f"{kind} {summary.by_outcome[kind]}" for kind in OUTCOME_KINDS
    )
    lines = [
        f"{summary.total} rows, results in {out}",
        f"  by outcome: {by_outcome}",
    ]
    if summary.by_code:
        codes = sorted(summary.by_code.items())
        lines.append("  by code:    " + ", ".join(f"{c}: {n}" for c, n in codes))

    unsettled = summary.by_outcome["not_sent"] + summary.by_outcome["unknown"]
    if stopped_by is not None:
        lines.append(
            f"stopped by {stopped_by}: rows without a line in {out} were not sent"
        )
    if unsettled:
        lines.append(
            f"{unsettled} rows have no definite outcome: not_sent rows can be "
            "sent again; unknown ones may already have a push"
        )
    for line in lines:
        print(f"{PROG}: {line}", file=sys.stderr)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (GridyError, OSError)):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


# --- sandbox ----------------------------------------------------------------


def _cmd_sandbox(args: argparse.Namespace) -> int:
    sandbox = _sandbox_type()(host=args.host, port=args.port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sandbox, args.host, args.port))
    return EXIT_OK


async def _serve(sandbox: GridySandbox, host: str, port: int) -> None:
    try:
        await sandbox.start()
    except OSError as exc:
        await sandbox.stop()
        raise _Failure(
            f"the sandbox cannot listen on {host}:{port}: {exc.strerror or exc}",
            EXIT_USAGE,
        ) from None

    try:
        print(f"Gridy sandbox listening on {sandbox.url} (Ctrl-C stops it)")
        print(f"export GRIDY_BASE_URL={sandbox.url}")
        print(f"export GRIDY_API_USER={sandbox.api_user}")
        print(f"export GRIDY_API_SECRET={sandbox.api_secret}", flush=True)
        stopped = asyncio.Event()
        with _on_signals(lambda name: stopped.set()):
            await stopped.wait()
    finally:
        await sandbox.stop()


# --- QR codes in the terminal -----------------------------------------------

_INK = "\x1b[30;107m"  # black on bright white, whatever the terminal's colours
_RESET = "\x1b[0m"


def _show_qr(png: bytes) -> None:
    try:
        modules = qr_modules(png)
    except (ImportError, ValueError, OSError) as exc:
        print(f"{PROG}: warning: cannot draw the QR code: {exc}", file=sys.stderr)
        return

    lines = render_qr(modules)
    try:
        "".join(lines).encode(sys.stdout.encoding or "ascii")
    except UnicodeEncodeError:
        print(
            f"{PROG}: warning: this terminal cannot draw the QR code", file=sys.stderr
        )
        return
    if sys.stdout.isatty():
        # Paint the paper white: dark-on-light is what scanners expect, and
        # many terminals are light-on-dark.
        lines = [f"{_INK}{line}{_RESET}" for line in lines]
    print("\n".join(lines))
