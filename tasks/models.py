"""Tasks given to agents; the models arrive with task tracking."""
