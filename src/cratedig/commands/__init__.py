"""The subcommands of ``cratedig``, one module per area, each with a ``COMMANDS`` list."""

from cratedig.commands import (
    analytics,
    datasets,
    evaluation,
    experiments,
    export,
    ingest,
    models,
    online,
    quality,
    scheduler,
    serving,
    simulate,
    spark,
    store,
    stream,
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
    online,
    serving,
    experiments,
    export,
    scheduler,
    spark,
    stream,
)
