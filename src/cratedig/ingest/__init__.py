"""cratedig.ingest."""
