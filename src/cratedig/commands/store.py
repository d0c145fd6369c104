"""``cratedig init-db``."""

from __future__ import annotations

import click

from cratedig.commands.common import CliContext, pass_cli
from cratedig.store import init_db


@click.command("init-db")
@pass_cli
def init_db_command(ctx: CliContext) -> None:
    """Create the store's tables and indexes (safe to run twice)."""
    engine = ctx.engine(create_schema=False)
    created = init_db(engine)
    where = engine.url.render_as_string(hide_password=True)
    if created:
        click.echo(f"Created {len(created)} tables in {where}: {', '.join(created)}")
    else:
        click.echo(f"Schema already up to date in {where}.")


COMMANDS: list[click.Command] = [init_db_command]
