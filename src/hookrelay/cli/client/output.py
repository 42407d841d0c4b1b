"""Output: the API's JSON for programs (``--json``), rich tables and key/value panels for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

Column = tuple[str, Callable[[Mapping[str, Any]], Any]]  # (header, how to get the cell from a row)


def console() -> Console:
    # Piped output is not cut at 80 columns: ids and URLs stay whole for grep and copy-paste.
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(width=240, highlight=False, soft_wrap=False)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def cell(value: Any) -> Text:
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, Text):
        return value
    if isinstance(value, (dict, list)):
        return Text(json.dumps(value, ensure_ascii=False))
    return Text(str(value))


STATUS_STYLES = {
    "succeeded": "green", "completed": "green", "enabled": "green", "success": "green",
    "pending": "cyan", "processing": "cyan", "retrying": "yellow",
    "dead": "red", "failed": "red", "failure": "red", "disabled": "red",
    "discarded": "dim", "cancelled": "dim",
}


def status(value: Any) -> Text:
    if value is None:
        return cell(None)
    return Text(str(value), style=STATUS_STYLES.get(str(value), ""))


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, title: str | None = None,
          empty: str = "nothing found") -> None:
    out = console()
    if not rows:
        out.print(Text(empty, style="dim"))
        return
    grid = Table(title=title, title_justify="left", header_style="bold")
    for header, _ in columns:
        grid.add_column(header, overflow="fold")
    for row in rows:
        grid.add_row(*(cell(get(row)) for _, get in columns))
    out.print(grid)


def details(resource: Mapping[str, Any], fields: Iterable[str | tuple[str, Callable[[Mapping], Any]]],
            *, title: str | None = None) -> None:
    """One resource as aligned ``field  value`` lines (nested values as compact JSON)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for field in fields:
        label, get = (field, None) if isinstance(field, str) else field
        value = get(resource) if get else resource.get(label)
        grid.add_row(label, status(value) if label == "status" else cell(value))
    out = console()
    if title:
        out.print(Text(title, style="bold underline"))
    out.print(grid)


def line(message: str) -> None:
    console().print(Text(message))


def more(next_cursor: str | None, command: str) -> None:
    if next_cursor:
        console().print(Text(f"more: {command} --cursor {next_cursor}   (or --all)", style="dim"))
