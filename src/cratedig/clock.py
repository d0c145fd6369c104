"""The one clock of cratedig: the current time in integer milliseconds, UTC.

Every ``*_ms`` time the system writes of its own (registry rows, cache
invalidations, feedback, impressions) comes from :func:`now_ms`. It reads the wall
clock unless a simulated time has been set with :func:`set_simulated_ms`: the traffic
simulator does so in process (:class:`cratedig.simulator.client.TestClientAdapter`),
so that the lists it is served are stamped with the simulated time of the request,
as its events are. It imports nothing of cratedig.
"""

from __future__ import annotations

import time

_simulated_ms: int | None = None


def now_ms() -> int:
    """The current time in milliseconds since the epoch, UTC (or the simulated time)."""
    simulated = _simulated_ms
    return int(time.time() * 1000) if simulated is None else simulated


def set_simulated_ms(ms: int | None) -> None:
    """Make :func:`now_ms` answer ``ms`` (for the whole process) until set again;
    ``None`` goes back to the wall clock."""
    global _simulated_ms
    _simulated_ms = None if ms is None else int(ms)


def simulated_ms() -> int | None:
    """The simulated time in force, or ``None`` when the wall clock is used."""
    return _simulated_ms
