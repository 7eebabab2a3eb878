"""The gridy_async test kit: a local Gridy API sandbox.

``GridySandbox`` checks signatures, nonces, timestamps and bodies the way
Gridy does, and creates and cancels challenges::

    async with GridySandbox() as sandbox:
        async with sandbox.client() as gridy:
            accepted = await gridy.send_challenge("ann@example.com")
        assert sandbox.challenges_for("ann@example.com")
"""

from ._sandbox import GridySandbox, ReceivedRequest, SandboxChallenge

__all__ = ["GridySandbox", "ReceivedRequest", "SandboxChallenge"]
