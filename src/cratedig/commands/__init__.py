"""The subcommands of ``cratedig``, one module per area, each with a ``COMMANDS`` list."""

from cratedig.commands import (
    analytics,
    datasets,
    evaluation,
    ingest,
    models,
    quality,
    scheduler,
    serving,
    simulate,
    store,
)

COMMAND_MODULES = (
    store,
    ingest,
    quality,
    datasets,
    simulate,
    analytics,
    models,
    evaluation,
    serving,
    scheduler,
)
