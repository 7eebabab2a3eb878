"""CPU cost per call: GridyClient.send_challenge against hand-written aiohttp.

Both sides sign a new-challenge request (fresh stamp, HMAC-SHA512), POST it
over one kept-alive aiohttp session to the same responder process, read the
202 answer and pull the challenge id out of it. The baseline does the minimum
by hand; the client adds validation, cattrs encoding, lenient decoding, the
code registry and logging checks. Rounds alternate between the two so
machine noise falls on both alike; the figure is the median ratio of CPU
seconds (time.process_time) per call, client over baseline.

Run: python benchmarks/bench_client_cpu.py [--calls 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from gridy_async import GridyClient

API_USER = "123456789"
SECRET = "benchmark-secret"
USER = "ann@example.com"


def _start_responder() -> tuple[subprocess.Popen[str], str]:
    script = Path(__file__).with_name("_responder.py")
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    return process, f"http://127.0.0.1:{port}"


def _bare_call(
    session: aiohttp.ClientSession, url: str
) -> Callable[[], Awaitable[str]]:
    """The least a correct hand-written client must do for one send."""
    last = 0

    async def call() -> str:
        nonlocal last
        utctime = max(int(time.time() * 1000), last + 1)
        last = utctime
        cnonce = str(uuid.uuid4())
        signed = f"x-gridy-utctime: {utctime}\nx-gridy-cnonce: {cnonce}"
        mac = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha512).hexdigest()
        headers = {
            "Authorization": (
                f"gridy-hmac: apiuser={API_USER},signedheaders=x-gridy-utctime;"
                f"x-gridy-cnonce,algorithm=gridy-hmac512,signature={mac}"
            ),
            "x-gridy-apiuser": API_USER,
            "x-gridy-utctime": str(utctime),
            "x-gridy-cnonce": cnonce,
            "Content-Type": "application/json; charset=utf-8",
        }
        body = {
            "utctime": str(utctime),
            "apiUser": API_USER,
            "type": 150,
            "body": {
                "gridyUser": USER,
                "challengeType": "UserKeyAndPattern",
                "challengeExpiry": "FifteenMins",
                "enableQRCode": False,
                "enableAutoVerify": False,
                "status": "NEW",
            },
        }
        async with session.post(url, data=json.dumps(body), headers=headers) as r:
            answer = json.loads(await r.read())
        return str(answer["message"]["challengeId"])

    return call


async def _cpu_per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - started) / calls


async def _run(calls: int, rounds: int) -> None:
    process, base_url = _start_responder()
    try:
        async with (
            aiohttp.ClientSession() as session,
            GridyClient(API_USER, SECRET, base_url=base_url) as gridy,
        ):
            bare = _bare_call(session, base_url + "/v1/svc/challenge")

            async def client_call() -> str:
                accepted = await gridy.send_challenge(USER, enable_qr_code=False)
                return accepted.challenge_id

            for warm in (bare, client_call):  # connections, caches, imports
                await _cpu_per_call(warm, 200)
            ratios = []
            for _ in range(rounds):
                base = await _cpu_per_call(bare, calls)
                ours = await _cpu_per_call(client_call, calls)
                ratios.append(ours / base)
                print(
                    f"bare {base * 1e6:7.1f} us/call   "
                    f"client {ours * 1e6:7.1f} us/call   ratio {ours / base:.3f}"
                )
    finally:
        process.kill()
        process.wait()
    print(f"median CPU ratio, client / bare aiohttp: {statistics.median(ratios):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(_run(args.calls, args.rounds))


if __name__ == "__main__":
    main()
