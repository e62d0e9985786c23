"""Errors of the extract step."""

from __future__ import annotations


class SourceError(Exception):
    """A source failed (unreachable, bad response, dropped mid-stream); nothing was landed.

    The message is one readable sentence naming the department, the feed and what went wrong; it never
    contains a password or token. The feed's watermark has not moved, so the next run tries again.
    """
