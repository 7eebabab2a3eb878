"""Sandbox throughput against a bare aiohttp.web handler, in the same run.

Each server runs in its own process and gets the same load: validly signed
new-challenge requests (QR codes off) from concurrent keep-alive connections.
Two figures per server:

- capacity: requests per CPU-second of the server process (from
  /proc/PID/stat), which does not depend on how fast the load generator is;
- wall rps: requests per second of elapsed time, for a feel of the numbers.

Rounds alternate between the servers so machine noise falls on both alike.
The target is a median capacity ratio, sandbox over bare, of at least 0.60.

Run: python benchmarks/bench_sandbox_rps.py [--requests 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from gridy_async import Stamper, authorization_header, signature

API_USER = "123456789"
TARGET = 0.60
_TICKS = os.sysconf("SC_CLK_TCK")


def _start(kind: str, secret: str) -> tuple[subprocess.Popen[str], str]:
    script = Path(__file__).with_name("_servers.py")
    process = subprocess.Popen(
        [sys.executable, str(script), kind, secret], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, f"http://127.0.0.1:{process.stdout.readline().strip()}"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


# One stamper for the whole run: the sandbox remembers every timestamp. At
# thousands of requests a second the stamps run ahead of the clock (one
# millisecond each); the sandbox allows 15 minutes of drift, so may they.
STAMPER = Stamper(max_lead_ms=14 * 60_000)


async def _load(url: str, secret: str, requests: int, concurrency: int) -> None:
    left = iter(range(requests))

    async def worker(session: aiohttp.ClientSession) -> None:
        for n in left:
            stamp = STAMPER.next()
            mac = signature(secret, stamp.utctime, stamp.cnonce)
            headers = {
                "Authorization": authorization_header(API_USER, mac),
                "x-gridy-apiuser": API_USER,
                "x-gridy-utctime": str(stamp.utctime),
                "x-gridy-cnonce": stamp.cnonce,
                "Content-Type": "application/json; charset=utf-8",
            }
            body = {
                "utctime": str(stamp.utctime),
                "apiUser": API_USER,
                "type": 150,
                "body": {
                    "gridyUser": f"user{n}@example.com",
                    "challengeType": "UserKeyAndPattern",
                    "enableQRCode": False,
                },
            }
            async with session.post(url, data=json.dumps(body), headers=headers) as r:
                answer = await r.json()
                assert answer["code"] == 2025, answer

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


async def _measure(
    process: subprocess.Popen[str], url: str, secret: str, requests: int, conc: int
) -> tuple[float, float]:
    cpu_before, started = _cpu_seconds(process.pid), time.perf_counter()
    await _load(url + "/v1/svc/challenge", secret, requests, conc)
    cpu = _cpu_seconds(process.pid) - cpu_before
    return requests / max(cpu, 1 / _TICKS), requests / (time.perf_counter() - started)


async def _run(requests: int, rounds: int, concurrency: int) -> float:
    secret = secrets.token_urlsafe(16)
    servers = {kind: _start(kind, secret) for kind in ("bare", "sandbox")}
    ratios = []
    try:
        for process, url in servers.values():  # warm up
            await _measure(process, url, secret, 300, concurrency)
        for _ in range(rounds):
            results = {
                kind: await _measure(process, url, secret, requests, concurrency)
                for kind, (process, url) in servers.items()
            }
            bare_cap, bare_rps = results["bare"]
            box_cap, box_rps = results["sandbox"]
            ratios.append(box_cap / bare_cap)
            print(
                f"bare {bare_cap:7.0f} req/cpu-s {bare_rps:6.0f} rps | "
                f"sandbox {box_cap:7.0f} req/cpu-s {box_rps:6.0f} rps | "
                f"ratio {box_cap / bare_cap:.2f}"
            )
    finally:
        for process, _ in servers.values():
            process.kill()
            process.wait()
    ratio = statistics.median(ratios)
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"median capacity ratio, sandbox / bare: {ratio:.2f} ({verdict} {TARGET})")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    ratio = asyncio.run(_run(args.requests, args.rounds, args.concurrency))
    sys.exit(0 if ratio >= TARGET else 1)


if __name__ == "__main__":
    main()
