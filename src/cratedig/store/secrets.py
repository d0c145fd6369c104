"""Secrets the service keeps in the store (rows of ``serving_state``).

When no ``secret_key`` is configured, the page sessions are signed with a random
secret that ``cratedig init-db`` generates once and keeps here, so that every worker
and host agrees on it and nobody can compute it from the settings.
"""

from __future__ import annotations

import secrets
import time

from sqlalchemy import Engine, select

from cratedig.store.schema import serving_state
from cratedig.store.writes import insert_ignore

#: The ``serving_state`` key of the page-session secret.
UI_SECRET_KEY = "ui_session_secret"


def stored_secret(engine: Engine, key: str = UI_SECRET_KEY) -> str:
    """The stored secret named ``key``, generated (256 random bits) on first use.

    Concurrent first calls agree: the insert is ignored when another caller's row is
    already there, and everyone reads the stored row back.
    """
    with engine.begin() as conn:
        found = conn.execute(
            select(serving_state.c.value).where(serving_state.c.key == key)
        ).scalar_one_or_none()
        if found is not None:
            return str(found)
        row = {"key": key, "value": secrets.token_hex(32), "updated_at_ms": int(time.time() * 1000)}
        insert_ignore(conn, serving_state, [row])
        return str(
            conn.execute(
                select(serving_state.c.value).where(serving_state.c.key == key)
            ).scalar_one()
        )
