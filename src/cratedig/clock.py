"""The one clock of cratedig: the current time in integer milliseconds, UTC.

Every ``*_ms`` time the system writes of its own (registry rows, cache
invalidations, feedback) comes from :func:`now_ms`, so tests and a future
injectable clock have one place to look. It imports nothing of cratedig.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    """The current time in milliseconds since the epoch, UTC."""
    return int(time.time() * 1000)
