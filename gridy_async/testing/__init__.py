"""The gridy_async test kit: a local Gridy API sandbox you can script.

``GridySandbox`` checks signatures, nonces, timestamps and bodies the way
Gridy does, serves every endpoint, and lets tests script users, account
states, block rules, faults and time::

    async with GridySandbox() as sandbox:
        sandbox.script_user("ann@example.com", "approve", after=2)
        async with sandbox.client() as gridy:
            accepted = await gridy.send_challenge("ann@example.com")
        sandbox.assert_one_push("ann@example.com")

``GridyMock`` answers without any server, through aioresponses, and checks
the signature of every request it sees. The pytest plugin hands out both as
the ``gridy_sandbox``, ``gridy_client`` and ``gridy_mock`` fixtures; see
docs/testing.md.
"""

from ._faults import Fault, FaultKind
from ._mock import GridyMock, MockRequest
from ._sandbox import ACCOUNT_STATES, API_USER_STATES, GridySandbox, ReceivedRequest
from ._world import Answer, ChallengeFate, FakeClock, SandboxChallenge, UserScript

__all__ = [
    "ACCOUNT_STATES",
    "API_USER_STATES",
    "Answer",
    "ChallengeFate",
    "FakeClock",
    "Fault",
    "FaultKind",
    "GridyMock",
    "GridySandbox",
    "MockRequest",
    "ReceivedRequest",
    "SandboxChallenge",
    "UserScript",
]
