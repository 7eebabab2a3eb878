"""The gridy_async pytest plugin: ``gridy_sandbox``, ``gridy_client``, ``gridy_mock``.

Installed with the package and registered through the ``pytest11`` entry
point, so the fixtures are there in any project that installs gridy_async;
``pytest -p gridy_async.testing._plugin`` loads it by hand.

Fixtures:

- ``gridy_sandbox``: a running `GridySandbox` on a free loopback port, new
  for every test. Override ``gridy_sandbox_options`` to pass it arguments.
- ``gridy_client``: a `GridyClient` signed in to ``gridy_sandbox``, closed
  after the test.
- ``gridy_mock``: a started `GridyMock` (aioresponses underneath: no server
  at all). Override ``gridy_mock_options`` to pass it arguments. A request
  it found unsigned, signed wrong or unexpected fails the test, even when the
  code under test swallowed the `AssertionError` it raised.

The two async fixtures need pytest-asyncio, which the ``test`` extra installs
(``pip install 'gridy_async[test]'``); without it they fail with a message
saying so, and nothing else in the test run is affected. They run in the
event loop pytest-asyncio gives function-scoped async fixtures; a test that
runs in another loop (``@pytest.mark.asyncio(loop_scope="session")``) is
stopped with an explanation instead of hanging, since the sandbox would
serve on a loop that is not running. docs/testing.md gives the recipe for a
sandbox shared by a whole session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

try:
    import pytest_asyncio
except ImportError:  # the test extra was not installed
    pytest_asyncio = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .._client import GridyClient
    from ._mock import GridyMock
    from ._sandbox import GridySandbox

__all__ = [
    "gridy_client",
    "gridy_mock",
    "gridy_mock_options",
    "gridy_sandbox",
    "gridy_sandbox_options",
]

_F = TypeVar("_F", bound=Callable[..., Any])

_NEEDS_PYTEST_ASYNCIO = (
    "the {name} fixture is async and needs pytest-asyncio, which is not "
    "installed; install the test extra: pip install 'gridy_async[test]'"
)
_LOOP_MISMATCH = (
    "the {name} fixture runs in the {fixture}-scoped event loop but this test "
    "runs in the {test}-scoped one, where the sandbox would never answer. Use "
    "the same loop scope for both (the asyncio_default_fixture_loop_scope and "
    "asyncio_default_test_loop_scope settings), or share a sandbox through "
    'your own fixture as docs/testing.md shows ("A sandbox for the whole '
    'session").'
)
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


def _async_fixture(function: _F) -> _F:
    """Declare an async fixture through pytest-asyncio, or one that says it is missing.

    pytest-asyncio's decorator is used (not plain ``pytest.fixture``) so the
    fixtures also work in its default strict mode.
    """
    if pytest_asyncio is not None:
        return cast("_F", pytest_asyncio.fixture(function))

    def missing() -> None:
        pytest.fail(_NEEDS_PYTEST_ASYNCIO.format(name=function.__name__), pytrace=False)

    missing.__doc__ = function.__doc__
    stand_in: _F = pytest.fixture(name=function.__name__)(missing)
    return stand_in


def _check_loop_scope(request: pytest.FixtureRequest, name: str) -> None:
    """Stop a test whose event loop differs from the one the fixture runs in.

    Both scopes are worked out the way pytest-asyncio does: the test's from
    its closest ``asyncio`` marker or ``asyncio_default_test_loop_scope``,
    the fixture's from ``asyncio_default_fixture_loop_scope`` (unset, or
    ``fixture-scope``, means the fixture's own scope: function).
    """
    marker = request.node.get_closest_marker("asyncio")
    if marker is None:
        return  # not an asyncio test: nothing runs in a loop to mismatch
    config = request.config
    test = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    test = test or config.getini("asyncio_default_test_loop_scope") or "function"
    fixture = config.getini("asyncio_default_fixture_loop_scope")
    if not fixture or fixture == "fixture-scope":
        fixture = "function"
    if test != fixture:
        pytest.fail(
            _LOOP_MISMATCH.format(name=name, fixture=fixture, test=test),
            pytrace=False,
        )


@pytest.fixture
def gridy_sandbox_options() -> dict[str, Any]:
    """Keyword arguments for the ``gridy_sandbox`` fixture's `GridySandbox`.

    Override it in a conftest.py or test module, for example to pass a
    `FakeClock` or a rate limit.
    """
    return {}


@_async_fixture
async def gridy_sandbox(
    request: pytest.FixtureRequest, gridy_sandbox_options: dict[str, Any]
) -> AsyncIterator[GridySandbox]:
    """A running `GridySandbox` on a free loopback port, stopped after the test."""
    from ._sandbox import GridySandbox

    _check_loop_scope(request, "gridy_sandbox")
    async with GridySandbox(**gridy_sandbox_options) as sandbox:
        yield sandbox


@_async_fixture
async def gridy_client(gridy_sandbox: GridySandbox) -> AsyncIterator[GridyClient]:
    """A `GridyClient` signed in to ``gridy_sandbox``, closed after the test."""
    async with gridy_sandbox.client() as client:
        yield client


@pytest.fixture
def gridy_mock_options() -> dict[str, Any]:
    """Keyword arguments for the ``gridy_mock`` fixture's `GridyMock`.

    Override it to set the base URL (None mocks any host), the API user or
    secret, a clock, or URLs to pass through.
    """
    return {}


@pytest.fixture
def gridy_mock(
    request: pytest.FixtureRequest, gridy_mock_options: dict[str, Any]
) -> Iterator[GridyMock]:
    """A started `GridyMock`: program answers with ``reply``, inspect ``requests``.

    At teardown the test fails if any request was unsigned, signed wrong or
    had no answer programmed, unless the test already failed saying so.
    """
    from ._mock import GridyMock

    mock = GridyMock(**gridy_mock_options)
    mock.start()
    try:
        yield mock
    finally:
        mock.stop()

    unreported = _unreported(mock.problems, request.node.stash.get(_CALL_REPORT, None))
    if unreported:
        lines = "\n".join(f"  {problem}" for problem in unreported)
        pytest.fail(
            "gridy_mock saw bad requests that the test did not fail on "
            f"(did the code under test swallow an AssertionError?):\n{lines}",
            pytrace=False,
        )


def _unreported(problems: list[str], report: pytest.TestReport | None) -> list[str]:
    """The problems a failed test's report does not already show."""
    if report is None or not report.failed:
        return list(problems)
    shown = report.longreprtext
    return [problem for problem in problems if problem not in shown]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each test's call-phase report, for ``gridy_mock``'s teardown."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report
