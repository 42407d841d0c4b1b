"""``hookrelay trigger EVENT_TYPE [--data JSON]``: publish an event (a sample one by default)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import click

from hookrelay.cli.client import output
from hookrelay.cli.client.common import ClientCommand, Session, client_options, format_rfc3339, parse_json_object
from hookrelay.cli.client.deliveries import LIST_COLUMNS


def sample_data(event_type: str) -> dict:
    return {
        "sample": True,
        "object": {"id": f"obj_{secrets.token_hex(8)}", "type": event_type.split(".", 1)[0]},
        "message": f"a sample {event_type} event sent by hookrelay trigger",
        "triggered_at": format_rfc3339(datetime.now(UTC)),
    }


@click.command("trigger", cls=ClientCommand)
@client_options
@click.argument("event_type")
@click.option("--data", "data_json", metavar="JSON",
              help="The event's data: a JSON object, or @file.json (@- for stdin). Default: a sample payload.")
@click.option("--idempotency-key", metavar="KEY",
              help="Send as Idempotency-Key: publishing again with it creates nothing new.")
def trigger(session: Session, event_type: str, data_json: str | None, idempotency_key: str | None) -> None:
    """Publish an event of EVENT_TYPE to every subscribed endpoint (POST /v1/events)."""
    data = parse_json_object("--data", data_json)
    body = {"type": event_type, "data": sample_data(event_type) if data is None else data}
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    event = session.api.post("/v1/events", json=body, headers=headers)
    if session.as_json:
        output.print_json(event)
        return
    deliveries = event.get("deliveries") or []
    output.line(f"event {event.get('id')} ({event.get('type')}) published: "
                f"{len(deliveries)} deliver{'y' if len(deliveries) == 1 else 'ies'}")
    if deliveries:
        output.table(deliveries, LIST_COLUMNS)
