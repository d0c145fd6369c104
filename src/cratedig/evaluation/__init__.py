"""cratedig.evaluation."""
