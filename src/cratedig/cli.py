"""The ``cratedig`` command.

Every subcommand has ``--help``. The store comes from ``--db`` or
``CRATEDIG_DATABASE_URL`` (default: ``sqlite:///cratedig.sqlite``). Subcommands live
in :mod:`cratedig.commands`, one module per area; this module only assembles them.
"""

from __future__ import annotations

import sys

import click

from cratedig import __version__
from cratedig.commands import COMMAND_MODULES
from cratedig.commands.common import CliContext
from cratedig.exceptions import CratedigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "database_url",
    envvar="CRATEDIG_DATABASE_URL",
    default=None,
    help="Store URL (sqlite:///file.sqlite or postgresql://...). "
    "Default: $CRATEDIG_DATABASE_URL, else sqlite:///cratedig.sqlite.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML settings file (default: $CRATEDIG_CONFIG or ./cratedig.toml).",
)
@click.version_option(__version__, prog_name="cratedig")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, config_file: str | None) -> None:
    """cratedig: artist recommendations for small music-streaming sites."""
    ctx.obj = CliContext(database_url=database_url, config_file=config_file)


for _module in COMMAND_MODULES:
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    """Entry point: run the CLI, turning cratedig errors into a clean message and exit 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CratedigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
