"""Prefect flows and tasks: thin wrappers over the library."""
