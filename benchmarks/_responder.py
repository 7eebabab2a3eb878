"""A server that answers every POST with a fixed 2025 body, for client benchmarks.

It runs in its own process so the client's CPU time is measured alone. It
prints its port on the first line of stdout, then serves until killed.
"""

from __future__ import annotations

import asyncio
import json
import socket

from aiohttp import web

ACCEPTED = json.dumps(
    {
        "id": "bench",
        "utctime": 1734732919817,
        "status": 202,
        "code": 2025,
        "message": {
            "challengeId": "3f2b8c1e-0d5a-4c7e-9a61-2b7f4e8d9c10",
            "challengeQRcodeUrl": "http://127.0.0.1/qr/3f2b8c1e.png",
        },
        "moreinfo": "https://support.gridy.io/status?code=2025",
    }
).encode()


async def _accept(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(
        body=ACCEPTED, status=202, content_type="application/json", charset="utf-8"
    )


async def _serve() -> None:
    app = web.Application()
    app.router.add_post("/v1/svc/challenge", _accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    print(sock.getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve())
