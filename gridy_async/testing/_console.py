"""The sandbox console: a web page that plays the Gridy user's phone app.

``GET /console`` lists the sandbox's challenges, newest first, each with its
QR code and, while it is pending, Approve and Reject buttons. The buttons
are plain HTML forms that POST to ``/console/challenges/{id}/approve`` or
``/reject`` and are sent back to the list (303 See Other), so a person, or a
browser test, can answer a push by hand. Once approved, a challenge shows
the auth code the user would read off their app and type in.

Everything the page shows that a caller chose (user, ref, IP address) is
HTML-escaped. The page sends no script; it reloads itself every few seconds
(``?refresh=N`` sets the interval, 0 turns it off).
"""

from __future__ import annotations

import datetime
import html
import urllib.parse
from typing import TYPE_CHECKING

from aiohttp import web

from ._world import ChallengeFate, SandboxChallenge

if TYPE_CHECKING:
    from ._sandbox import GridySandbox

__all__ = ["add_console_routes"]

# Enough to find a recent push; a page of thousands of QR codes helps nobody.
_MAX_ROWS = 200
_DEFAULT_REFRESH = 5
_MAX_REFRESH = 3600

# The page needs nothing but itself, its QR images and its own forms.
_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; margin: 0 0 .2rem; }
p.about { color: #555; margin: 0 0 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left;
  vertical-align: middle; }
th { background: #f4f4f4; }
td { white-space: nowrap; }
td.user { white-space: normal; overflow-wrap: anywhere; min-width: 10rem; }
td.when { white-space: normal; }
.state { font-weight: 600; padding: .1rem .5rem; border-radius: .8rem; }
.PENDING { background: #fff3c4; } .APPROVED, .VERIFIED { background: #d4f5d4; }
.REJECTED { background: #fbd5d5; } .EXPIRED, .CANCELLED { background: #e6e6e6; }
.code { font: 600 1.3rem ui-monospace, monospace; letter-spacing: .15rem; }
form { display: inline; }
button { font: inherit; padding: .25rem .8rem; margin-right: .3rem; cursor: pointer; }
button.approve { background: #2e7d32; color: #fff; border: 1px solid #1b5e20; }
button.reject { background: #c62828; color: #fff; border: 1px solid #8e0000; }
"""


def add_console_routes(app: web.Application, sandbox: GridySandbox) -> None:
    """Serve the console on ``app``: ``/console`` and its two button routes.

    Call it before the app starts; aiohttp freezes the router then.

    Args:
        app: The sandbox's web application.
        sandbox: The sandbox whose challenges the console shows and answers.
    """
    console = _Console(sandbox)
    app.router.add_get("/console", console.page, name="console")
    app.router.add_post("/console/challenges/{challenge_id}/approve", console.approve)
    app.router.add_post("/console/challenges/{challenge_id}/reject", console.reject)


class _Console:
    """The console's request handlers, bound to one sandbox."""

    def __init__(self, sandbox: GridySandbox) -> None:
        self._sandbox = sandbox

    async def page(self, request: web.Request) -> web.Response:
        """List the challenges, newest first."""
        refresh = _refresh_seconds(request.query.get("refresh"))
        now = self._sandbox.clock()
        # Newest first; among equal times (a FakeClock) the later one sent.
        sent = enumerate(self._sandbox.challenges.values())
        ordered = sorted(sent, key=lambda pair: (pair[1].created_at, pair[0]))
        newest = [challenge for _, challenge in reversed(ordered)]
        body = _render_page(newest, now, refresh)
        return web.Response(
            text=body,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-store", "Content-Security-Policy": _CSP},
        )

    async def approve(self, request: web.Request) -> web.Response:
        """Approve a pending challenge, then go back to the list."""
        challenge_id = self._pending(request)
        self._sandbox.approve(challenge_id)
        raise web.HTTPSeeOther(_back_to_list(request))

    async def reject(self, request: web.Request) -> web.Response:
        """Reject a pending challenge, then go back to the list."""
        challenge_id = self._pending(request)
        self._sandbox.reject(challenge_id)
        raise web.HTTPSeeOther(_back_to_list(request))

    def _pending(self, request: web.Request) -> str:
        """The challenge a button names, once it is known to be answerable.

        Raises:
            web.HTTPForbidden: The form was posted from another site.
            web.HTTPNotFound: No such challenge.
            web.HTTPConflict: It is no longer pending (answering it again
                would rewrite what the user already did).
        """
        # A page elsewhere must not press the buttons on the user's behalf.
        origin = request.headers.get("Origin")
        if origin is not None and origin != str(request.url.origin()):
            raise web.HTTPForbidden(text="cross-site form posts are refused\n")

        challenge_id = request.match_info["challenge_id"]
        if challenge_id not in self._sandbox.challenges:
            raise web.HTTPNotFound(text="no such challenge\n")
        fate = self._sandbox.fate(challenge_id)
        if fate is not ChallengeFate.PENDING:
            raise web.HTTPConflict(text=f"the challenge is {fate.value}, not PENDING\n")
        return challenge_id


def _count(challenges: int) -> str:
    return "1 challenge" if challenges == 1 else f"{challenges} challenges"


def _refresh_seconds(raw: str | None) -> int:
    """The ``refresh`` query parameter as seconds; 400 when it is not one."""
    if raw is None:
        return _DEFAULT_REFRESH
    if not _is_seconds(raw):
        raise web.HTTPBadRequest(
            text=f"refresh must be a whole number of seconds, 0 to {_MAX_REFRESH}\n"
        )
    return int(raw)


def _back_to_list(request: web.Request) -> str:
    """Where a button sends the browser: the list, keeping its refresh rate."""
    referer = urllib.parse.urlsplit(request.headers.get("Referer", ""))
    refresh = urllib.parse.parse_qs(referer.query).get("refresh", [""])[0]
    return f"/console?refresh={refresh}" if _is_seconds(refresh) else "/console"


def _is_seconds(raw: str) -> bool:
    """Whether ``raw`` is 0 to 3600 in ASCII digits (``"²".isdigit()`` is true)."""
    # The length check first: int() refuses strings of thousands of digits.
    short = 0 < len(raw) <= len(str(_MAX_REFRESH))
    return short and raw.isascii() and raw.isdigit() and int(raw) <= _MAX_REFRESH


def _render_page(challenges: list[SandboxChallenge], now: float, refresh: int) -> str:
    """The whole console page."""
    shown = challenges[:_MAX_ROWS]
    rows = "\n".join(_render_row(challenge, now) for challenge in shown)
    if not shown:
        rows = '<tr><td colspan="8">No challenges yet.</td></tr>'
    more = len(challenges) - len(shown)
    note = f"<p>{more} older challenges not shown.</p>" if more > 0 else ""
    reload = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{reload}
<title>Gridy sandbox console</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Gridy sandbox console</h1>
<p class="about">Plays the Gridy user's app: answer a push here. Sandbox time
{_clock_time(now)} UTC; {_count(len(challenges))}.</p>
<table>
<thead><tr><th>Created (UTC)</th><th>User</th><th>Type</th><th>Ref</th>
<th>Expires</th><th>State</th><th>QR code</th><th>Answer</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
{note}
</body>
</html>
"""


def _render_row(challenge: SandboxChallenge, now: float) -> str:
    """One challenge as a table row, with an id tests and links can find."""
    fate = challenge.fate(now)
    quoted_id = urllib.parse.quote(challenge.challenge_id, safe="")
    return (
        f'<tr id="c-{_text(challenge.challenge_id)}" data-state="{fate.value}">'
        f'<td class="when">{_clock_time(challenge.created_at)}</td>'
        f'<td class="user">{_text(challenge.user)}</td>'
        f"<td>{_text(challenge.challenge_type.value)}</td>"
        f"<td>{_text(challenge.ref or '')}</td>"
        f'<td class="when">{_expiry(challenge, fate, now)}</td>'
        f'<td><span class="state {fate.value}">{fate.value}</span></td>'
        f'<td><img src="/qr/{quoted_id}.png" alt="QR code" width="80" height="80"'
        ' loading="lazy"></td>'
        f"<td>{_answer_cell(challenge, fate, quoted_id)}</td>"
        "</tr>"
    )


def _answer_cell(
    challenge: SandboxChallenge, fate: ChallengeFate, quoted_id: str
) -> str:
    """The buttons while pending, the auth code once approved."""
    if fate is ChallengeFate.PENDING:
        base = f"/console/challenges/{quoted_id}"
        return (
            f'<form method="post" action="{base}/approve">'
            '<button class="approve" type="submit">Approve</button></form>'
            f'<form method="post" action="{base}/reject">'
            '<button class="reject" type="submit">Reject</button></form>'
        )
    if fate is ChallengeFate.APPROVED:
        code = _text(challenge.auth_code)
        return f'Auth code <span class="code">{code}</span>'
    return ""


def _expiry(challenge: SandboxChallenge, fate: ChallengeFate, now: float) -> str:
    """When it expires, and how long is left while that matters (pending)."""
    at = _clock_time(challenge.expires_at)
    left = int(challenge.expires_at - now)
    if left <= 0 or fate is not ChallengeFate.PENDING:
        return at
    minutes, seconds = divmod(left, 60)
    return f"{at}<br>({minutes}m {seconds:02d}s left)"


def _clock_time(epoch: float) -> str:
    """Seconds since the epoch as ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _text(value: str) -> str:
    """Caller-chosen text made safe for HTML text and quoted attributes."""
    return html.escape(value, quote=True)
