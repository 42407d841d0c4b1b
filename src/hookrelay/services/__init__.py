"""Use cases shared by the API, the actors, the scheduler and the CLI."""
