"""Fixtures shared by the suite: a running sandbox and a client bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gridy_async import GridyClient
from gridy_async.testing import GridySandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[GridySandbox]:
    """A sandbox listening on a free loopback port."""
    async with GridySandbox() as running:
        yield running


@pytest.fixture
async def client(sandbox: GridySandbox) -> AsyncIterator[GridyClient]:
    """A client signed in to the sandbox."""
    async with sandbox.client() as gridy:
        yield gridy
