from __future__ import annotations

import click

from hookrelay.cli.admin import apps, db
from hookrelay.cli.client import deliveries, dlq, endpoints, jobs, trigger
from hookrelay.cli.servers import api, dev, scheduler, worker
from hookrelay.settings import SettingsError


class _Group(click.Group):
    """Turns a bad HOOKRELAY_* value into one clear line and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise click.ClickException(f"configuration error: {exc}") from None


@click.group(cls=_Group)
@click.version_option(package_name="hookrelay")
def cli() -> None:
    """hookrelay: webhook delivery platform."""


for command in (dev, api, worker, scheduler, db, apps, trigger, deliveries, dlq, endpoints, jobs):
    cli.add_command(command)


def main() -> None:
    cli()
