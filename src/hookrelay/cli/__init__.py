"""The ``hookrelay`` command: server processes, admin commands and (later) client commands."""

from hookrelay.cli.main import main

__all__ = ["main"]
