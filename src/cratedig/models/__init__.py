"""cratedig.models."""
