"""``cratedig init-db`` and ``cratedig db`` (schema revisions: upgrade, current,
history, downgrade)."""

from __future__ import annotations

import sys
from typing import Any

import click

from cratedig.commands.common import CliContext, pass_cli
from cratedig.ingest.progress import make_progress
from cratedig.store import init_db, migrate
from cratedig.store.secrets import stored_secret


def _where(ctx: CliContext) -> str:
    return ctx.engine(create_schema=False).url.render_as_string(hide_password=True)


@click.command("init-db")
@pass_cli
def init_db_command(ctx: CliContext) -> None:
    """Create the store's tables, or bring an existing store to the current schema
    (safe to run twice)."""
    engine = ctx.engine(create_schema=False)
    before = migrate.schema_status(engine)
    created = init_db(engine)
    stored_secret(engine)  # the page-session secret when none is configured (docs/security.md)
    where = _where(ctx)
    if before.state == "empty":
        click.echo(f"Created {len(created)} tables in {where} at revision {before.head}.")
    elif before.state == "current":
        click.echo(f"Schema already up to date in {where} (revision {before.head}).")
    else:
        click.echo(
            f"Upgraded {where} from {before.current or 'the pre-migration baseline'} "
            f"to {before.head}" + (f"; created {', '.join(created)}." if created else ".")
        )


@click.group("db")
def db_group() -> None:
    """The store's schema revisions (Alembic migrations shipped with cratedig)."""


def _progress_callback(progress: Any) -> migrate.ProgressCallback:
    tasks: dict[str, Any] = {}

    def callback(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = progress.add_task(what, total=max(total, 1))
        progress.update(tasks[what], completed=done, total=max(total, 1))

    return callback


@db_group.command("upgrade")
@click.argument("revision", default="head")
@pass_cli
def upgrade_command(ctx: CliContext, revision: str) -> None:
    """Upgrade the store to REVISION (default: head, the schema this cratedig needs).

    Each revision is one transaction: an upgrade that is killed can be run again."""
    engine = ctx.engine(create_schema=False)
    where = _where(ctx)
    before = migrate.schema_status(engine)
    if before.state == "empty":
        init_db(engine)
        click.echo(f"{where} was empty: created the schema at revision {before.head}.")
        return
    pending = migrate.pending_revisions(engine, revision)
    if not pending:
        click.echo(f"{where} is already at {before.current}; nothing to do.")
        return
    click.echo(f"Upgrading {where}: {' -> '.join([before.current or 'pre-migration', *pending])}")
    with make_progress(sys.stderr.isatty()) as progress:
        applied = migrate.upgrade(engine, revision, progress=_progress_callback(progress))
    click.echo(f"Applied {len(applied)} revision(s); the store is at {applied[-1]}.")


@db_group.command("current")
@pass_cli
def current_command(ctx: CliContext) -> None:
    """Show the store's schema revision and whether it is current."""
    engine = ctx.engine(create_schema=False)
    status = migrate.schema_status(engine)
    click.echo(f"store:    {_where(ctx)}")
    click.echo(f"revision: {status.current or '(none)'}")
    click.echo(f"head:     {status.head}")
    if status.state == "current":
        click.echo("state:    current")
    elif status.state == "empty":
        click.echo("state:    empty (run `cratedig init-db`)")
    else:
        click.echo(f"state:    {status.state}: {status.message(_where(ctx))}")


@db_group.command("history")
def history_command() -> None:
    """List the schema revisions, oldest first, and whether each can be undone."""
    for info in migrate.history():
        undo = "downgrade keeps all data" if info.lossless_downgrade else "downgrade loses data"
        click.echo(f"{info.revision:<32} {undo:<26} {info.title}")


@db_group.command("downgrade")
@click.argument("revision")
@click.option(
    "--allow-data-loss",
    is_flag=True,
    help="Also undo revisions whose downgrade drops data (back the store up first).",
)
@pass_cli
def downgrade_command(ctx: CliContext, revision: str, allow_data_loss: bool) -> None:
    """Undo revisions down to REVISION (use `base` for none), where that keeps the data."""
    engine = ctx.engine(create_schema=False)
    undone = migrate.downgrade(engine, revision, allow_data_loss=allow_data_loss)
    if not undone:
        click.echo(f"{_where(ctx)} is already at {revision}; nothing to do.")
    else:
        click.echo(f"Undid {', '.join(undone)}; the store is at {revision}.")


COMMANDS: list[click.Command] = [init_db_command, db_group]
