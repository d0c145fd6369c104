"""SELECTs compiled once and run on the DBAPI cursor, for the service's request path.

SQLAlchemy Core spends ~100 us of CPU processing a statement with many bound
constants on every execution (the weighted recent-activity query has ~20), more than
the database spends answering it. :class:`Prepared` compiles the statement once for the
engine's dialect (constants and expanding ``IN`` lists rendered then) and runs the SQL
text with the few per-request values on the driver's cursor (~15 us). Only for
statements whose parameters and results need no type processing (text, integers,
floats), as the SQL is still SQLAlchemy's own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql import Select


class Prepared:
    """A SELECT compiled for one dialect; :meth:`all` runs it with the named values.

    Parameters
    ----------
    statement
        The statement; every parameter but ``names`` keeps the value it was built with.
    dialect
        The engine's dialect (``engine.dialect``).
    names
        The ``bindparam`` names :meth:`all` fills on each run.
    """

    def __init__(self, statement: Select[Any], dialect: Dialect, names: tuple[str, ...]) -> None:
        placeholders = statement.params(dict.fromkeys(names))  # compiled with every value
        compiled = placeholders.compile(
            dialect=dialect, compile_kwargs={"render_postcompile": True}
        )
        self.sql = str(compiled)
        state = compiled.construct_expanded_state()
        self.constants = dict(state.parameters)
        self.order = tuple(state.positiontup or ()) if compiled.positional else None

    def all(self, conn: Connection, **values: Any) -> list[tuple[Any, ...]]:
        """Every row for these values, as plain tuples."""
        params = {**self.constants, **values}
        args: Any = params if self.order is None else tuple(params[n] for n in self.order)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.sql, args)
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()
