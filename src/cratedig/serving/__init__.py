"""cratedig.serving."""
