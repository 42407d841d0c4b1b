"""``hookrelay deliveries list|show|redeliver``: the delivery log and manual redelivery."""

from __future__ import annotations

import click

from hookrelay.cli.client import output
from hookrelay.cli.client.common import TIME_HELP, ClientGroup, Session, client_options, parse_time
from hookrelay.cli.client.http import collect

DELIVERY_STATUSES = ("pending", "retrying", "succeeded", "dead", "discarded")
DEFAULT_LIMIT, DEFAULT_ALL_LIMIT = 50, 1000

DELIVERY_FIELDS = (
    "id", "status", "event_type", "event_id", "endpoint_id", "attempts", "last_response_status",
    "last_error", "dead_reason", "next_attempt_at", "last_attempt_at", "created_at", "updated_at",
)
LIST_COLUMNS: list[output.Column] = [
    ("id", lambda d: d.get("id")),
    ("event type", lambda d: d.get("event_type")),
    ("endpoint", lambda d: d.get("endpoint_id")),
    ("status", lambda d: output.status(d.get("status"))),
    ("attempts", lambda d: d.get("attempts")),
    ("last answer", lambda d: d.get("last_response_status") or d.get("last_error")),
    ("created", lambda d: d.get("created_at")),
]


def _outcome(attempt: dict) -> object:
    return output.status(attempt.get("outcome"))


ATTEMPT_COLUMNS: list[output.Column] = [
    ("#", lambda a: a.get("number")),
    ("id", lambda a: a.get("id")),
    ("trigger", lambda a: a.get("trigger")),
    ("started", lambda a: a.get("started_at")),
    ("ms", lambda a: a.get("duration_ms")),
    ("status", lambda a: (a.get("response") or {}).get("status")),
    ("outcome", _outcome),
    ("error", lambda a: a.get("error")),
]


def limit_option(what: str):
    return click.option(
        "--limit", type=click.IntRange(min=1), default=None, metavar="N",
        help=f"At most this many {what} (default {DEFAULT_LIMIT}; with --all, {DEFAULT_ALL_LIMIT}).",
    )


def all_option(what: str):
    return click.option("--all", "follow", is_flag=True, help=f"Follow next_cursor to list more {what}, up to --limit.")


def total(limit: int | None, follow: bool) -> int:
    return limit or (DEFAULT_ALL_LIMIT if follow else DEFAULT_LIMIT)


@click.group(cls=ClientGroup)
def deliveries() -> None:
    """The delivery log (one delivery per event × endpoint) and manual redelivery."""


@deliveries.command("list")
@client_options
@click.option("--endpoint-id", metavar="EP_ID", help="Only this endpoint's deliveries.")
@click.option("--event-id", metavar="EVT_ID", help="Only this event's deliveries.")
@click.option("--event-type", metavar="TYPE", help="Only this event type.")
@click.option("--status", type=click.Choice(DELIVERY_STATUSES), help="Only deliveries in this status.")
@click.option("--since", metavar="TIME", help="Created at or after. " + TIME_HELP)
@click.option("--until", metavar="TIME", help="Created before. " + TIME_HELP)
@limit_option("deliveries")
@click.option("--cursor", metavar="CURSOR", help="Continue from a previous answer's next_cursor.")
@all_option("deliveries")
def list_deliveries(session: Session, endpoint_id, event_id, event_type, status, since, until, limit, cursor,
                    follow) -> None:
    """List deliveries, newest first (GET /v1/deliveries)."""
    params = {
        "endpoint_id": endpoint_id, "event_id": event_id, "event_type": event_type, "status": status,
        "since": parse_time("--since", since), "until": parse_time("--until", until), "cursor": cursor,
    }
    page = collect(session.api, "/v1/deliveries", params, total=total(limit, follow), follow=follow)
    if session.as_json:
        output.print_json(page)
        return
    output.table(page["data"], LIST_COLUMNS, empty="no deliveries")
    output.more(page["next_cursor"], "hookrelay deliveries list")


@deliveries.command("show")
@client_options
@click.argument("delivery_id")
def show_delivery(session: Session, delivery_id: str) -> None:
    """Show a delivery and every HTTP attempt made for it.

    With --json: the delivery resource with an added "attempts" list.
    """
    delivery = session.api.get(f"/v1/deliveries/{delivery_id}")
    attempts = collect(session.api, f"/v1/deliveries/{delivery_id}/attempts", {}, total=10_000, follow=True)["data"]
    if session.as_json:
        output.print_json({**delivery, "attempts": attempts})
        return
    output.details(delivery, DELIVERY_FIELDS, title=f"delivery {delivery.get('id')}")
    click.echo()
    output.table(attempts, ATTEMPT_COLUMNS, title="attempts", empty="no attempts yet")


@deliveries.command("redeliver")
@client_options
@click.argument("delivery_id")
def redeliver(session: Session, delivery_id: str) -> None:
    """Make one immediate manual attempt (same webhook-id and body, fresh signature).

    Success makes the delivery succeeded; a failure leaves the status it had.
    """
    delivery = session.api.post(f"/v1/deliveries/{delivery_id}/redeliver", timeout=120)
    if session.as_json:
        output.print_json(delivery)
        return
    if isinstance(delivery, dict) and "status" in delivery:
        answer = delivery.get("last_response_status") or delivery.get("last_error") or "-"
        output.line(f"redelivered {delivery_id}: now {delivery['status']} (last answer: {answer})")
    else:
        output.line(f"redelivery of {delivery_id} accepted")
