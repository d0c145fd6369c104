"""cratedig.analytics."""
