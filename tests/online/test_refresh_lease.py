"""One refresh at a time: the store's online refresh lease."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, update

from cratedig import clock
from cratedig.online import refresh as refresh_module
from cratedig.online.refresh import LEASE_NAME, LEASE_TTL_MS, RefreshBusyError, refresh
from cratedig.store import scheduler as leases
from cratedig.store.schema import scheduler_leases
from cratedig.store.schema.rollups import online_user_daily
from tests.online import scenario as S


def test_a_refresh_waits_for_the_one_holding_the_lease(engine: Engine) -> None:
    S.fill(engine)
    now = clock.now_ms()
    assert leases.acquire_lease(engine, LEASE_NAME, "other-host:42", LEASE_TTL_MS, now)
    with pytest.raises(RefreshBusyError, match=r"another refresh \(other-host:42\)"):
        refresh(engine, full=True, now_ms=S.NOW)
    with engine.connect() as conn:
        assert conn.execute(select(online_user_daily)).first() is None  # nothing written
    leases.release_lease(engine, LEASE_NAME, "other-host:42", clock.now_ms())
    refresh(engine, full=True, now_ms=S.NOW)
    lease = leases.read_lease(engine, LEASE_NAME)
    assert lease is not None and lease.expires_at_ms < clock.now_ms()  # given up at the end
    refresh(engine, full=True, now_ms=S.NOW)  # and taken again by the next one


def test_a_refresh_that_lost_its_lease_writes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    S.fill(engine)
    measured = refresh_module.measure

    def slow_measure(*args: object, **kwargs: object) -> object:
        # meanwhile the lease expired and another refresh took it
        with engine.begin() as conn:
            conn.execute(
                update(scheduler_leases)
                .where(scheduler_leases.c.name == LEASE_NAME)
                .values(expires_at_ms=0)
            )
        assert leases.acquire_lease(engine, LEASE_NAME, "thief", LEASE_TTL_MS, clock.now_ms())
        return measured(*args, **kwargs)

    monkeypatch.setattr(refresh_module, "measure", slow_measure)
    with pytest.raises(RefreshBusyError, match="lost the store's online refresh lease"):
        refresh(engine, full=True, now_ms=S.NOW)
    with engine.connect() as conn:
        assert conn.execute(select(online_user_daily)).first() is None
    lease = leases.read_lease(engine, LEASE_NAME)
    assert lease is not None and lease.holder == "thief"  # not given up by the loser
