"""``cratedig import lastfm-hetrec`` and ``cratedig import lastfm-1k`` (attached to the import group)."""

from __future__ import annotations

import click

#: Subcommands that the ``import`` group (commands/ingest.py) attaches.
IMPORT_SUBCOMMANDS: list[click.Command] = []
COMMANDS: list[click.Command] = []
