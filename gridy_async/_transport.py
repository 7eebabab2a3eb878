"""The one place that talks HTTP, and the one place aiohttp errors are translated.

Every aiohttp exception becomes a `TransportError` here, split by what it
tells us about the request: `ConnectError` when it certainly never left,
`RequestTimeoutError` and `ConnectionLostError` when it may have arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
import attrs

from ._errors import (
    ClientClosedError,
    ConnectError,
    ConnectionLostError,
    EventLoopError,
    RequestTimeoutError,
)

__all__ = ["RawResponse", "Transport"]


@attrs.frozen
class RawResponse:
    """What came back: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport:
    """Sends requests over one aiohttp session.

    Args:
        session: A session to borrow; it is never closed here. When None, one
            is created on first use, inside the running event loop.
        timeout: Seconds for a whole exchange.
        connect_timeout: Seconds to get a connection.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None,
        timeout: float,
        connect_timeout: float,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(
            total=timeout, connect=min(connect_timeout, timeout)
        )
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this GridyClient was closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise EventLoopError(
                "this GridyClient first ran in another event loop, which owns its "
                "connections; create one client per event loop (per asyncio.run)"
            )
        if self._session is None:
            # Created here rather than in __init__ so the session binds to the
            # loop that uses it, and constructing a client needs no loop.
            self._session = aiohttp.ClientSession()
        if self._session.closed:
            # aiohttp would raise a bare RuntimeError: keep it ours.
            raise ClientClosedError(
                "the aiohttp session given to this GridyClient was closed by its owner"
            )
        return self._session

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> RawResponse:
        """Send one request and read the whole answer, whatever its status.

        Raises:
            ClientClosedError: The transport was closed.
            TransportError: No answer came back; the subclass says how far the
                request got.
        """
        session = self._get_session()
        # aiohttp silently resends an idempotent request (our only one is the
        # time GET), unchanged, when the connection drops (aio-libs/aiohttp
        # #10790); Gridy answers a repeated nonce with -4034 (FACTS.md,
        # "Signing"). A session we own refuses the resend. Per-call
        # middlewares would replace a borrowed session's own, so those are
        # left as their owner set them up.
        guard = self._owns_session and method == "GET"
        middlewares = (_one_attempt(),) if guard else None
        try:
            # raise_for_status=False overrides a borrowed session's setting:
            # error answers carry the API code we need to read.
            async with session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._timeout,
                raise_for_status=False,
                allow_redirects=False,
                middlewares=middlewares,
            ) as response:
                payload = await response.read()
                return RawResponse(response.status, response.headers, payload)
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(
                f"could not connect to {url} ({exc}); nothing was sent: check the "
                "base URL and the network, then try again"
            ) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            # aiohttp counts waiting for a free pooled connection here too.
            raise ConnectError(
                f"no connection to {url} within {self._timeout.connect} s (connecting, "
                "or waiting for one of the session's pooled connections); nothing "
                "was sent: check the network, or send fewer requests at once"
            ) from exc
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise RequestTimeoutError(
                f"{url} did not answer within {self._timeout.total} s; the request "
                "may have reached Gridy (raise the client's timeout if Gridy is "
                "just slow)"
            ) from exc
        except aiohttp.ClientResponseError as exc:
            raise ConnectionLostError(
                f"{url} sent an unreadable HTTP answer: {exc.message}",
                http_status=exc.status or None,
            ) from exc
        except aiohttp.ClientError as exc:
            raise ConnectionLostError(
                f"the connection to {url} failed mid-exchange ({exc!r}); the "
                "request may have reached Gridy"
            ) from exc

    @property
    def closed(self) -> bool:
        """Whether `aclose` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Close the session if this transport created it."""
        self._closed = True
        same_loop = self._loop is None or self._loop is asyncio.get_running_loop()
        # A session of a loop that has gone cannot be closed from this one;
        # its connections went with that loop.
        if self._owns_session and self._session is not None and same_loop:
            await self._session.close()
        self._session = None


def _one_attempt() -> aiohttp.ClientMiddlewareType:
    """A middleware letting one request through once: a resend fails instead."""
    attempts = 0

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            # Raised where aiohttp expects it, so it surfaces (and is
            # translated) like the disconnect that prompted the resend.
            raise aiohttp.ServerDisconnectedError(
                "the server closed the connection; a signed request is not resent"
            )
        return await handler(request)

    return middleware
