"""The subcommands of ``cratedig``, one module per area, each with a ``COMMANDS`` list."""

from cratedig.commands import (
    analytics,
    datasets,
    evaluation,
    ingest,
    models,
    online,
    serving,
    simulate,
    store,
)

COMMAND_MODULES = (
    store,
    ingest,
    datasets,
    simulate,
    analytics,
    models,
    evaluation,
    online,
    serving,
)
