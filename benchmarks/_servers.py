"""Servers for the sandbox benchmark, each run in its own process.

``python _servers.py sandbox SECRET`` serves a GridySandbox;
``python _servers.py bare`` serves a bare aiohttp.web handler answering the
JSON a sandbox sends for an accepted challenge without a QR code. Either
prints its port on the first line of stdout, then serves until killed.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

from aiohttp import web

from gridy_async.testing import GridySandbox

API_USER = "123456789"


async def _bare_handler(request: web.Request) -> web.Response:
    await request.read()
    challenge_id = str(uuid.uuid4())
    return web.json_response(
        {
            "id": uuid.uuid4().hex,
            "utctime": int(time.time() * 1000),
            "status": 202,
            "code": 2025,
            "message": {
                "challengeId": challenge_id,
                "challengeQRcodeUrl": f"http://127.0.0.1/qr/{challenge_id}.png",
            },
            "moreinfo": "https://support.gridy.io/status?code=2025",
        },
        status=202,
    )


async def _serve(kind: str, secret: str) -> None:
    if kind == "sandbox":
        sandbox = GridySandbox(api_user=API_USER, api_secret=secret)
        await sandbox.start()
        port = sandbox.url.rsplit(":", 1)[1]
    else:
        app = web.Application()
        app.router.add_post("/v1/svc/challenge", _bare_handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = str(runner.addresses[0][1])
    print(port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""))
