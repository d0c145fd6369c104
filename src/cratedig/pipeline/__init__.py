"""cratedig.pipeline."""
