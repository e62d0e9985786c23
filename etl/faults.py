"""Crash points for recovery tests: `CREDITWH_CRASH_AT=load.before_commit:3` kills the process with
SIGKILL the third time that point is reached. Unset (always, in production), it does nothing.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

from etl import config

_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    setting = config.settings().crash_at
    if not setting:
        return
    point, _, nth = setting.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
