"""The subcommands of ``cratedig``, one module per area, each with a ``COMMANDS`` list."""

from cratedig.commands import analytics, ingest, models, serving, simulate, store

COMMAND_MODULES = (store, ingest, simulate, analytics, models, serving)
