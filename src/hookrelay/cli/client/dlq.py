"""``hookrelay dlq list|replay|discard``: the dead-letter queue of the key's application."""

from __future__ import annotations

import click

from hookrelay.cli.client import output
from hookrelay.cli.client.common import TIME_HELP, ClientGroup, Session, client_options, parse_time
from hookrelay.cli.client.deliveries import all_option, limit_option, total
from hookrelay.cli.client.http import ClientError, collect

DEAD_REASONS = ("rejected", "retries_exhausted", "gone", "endpoint_disabled")

DLQ_COLUMNS: list[output.Column] = [
    ("id", lambda d: d.get("id")),
    ("event type", lambda d: d.get("event_type")),
    ("endpoint", lambda d: d.get("endpoint_id")),
    ("reason", lambda d: d.get("dead_reason")),
    ("attempts", lambda d: d.get("attempts")),
    ("last answer", lambda d: d.get("last_response_status") or d.get("last_error")),
    ("dead since", lambda d: d.get("updated_at")),
]


def filter_options(func):
    for decorator in reversed((
        click.option("--endpoint-id", metavar="EP_ID", help="Only this endpoint's dead deliveries."),
        click.option("--event-type", metavar="TYPE", help="Only this event type."),
        click.option("--reason", type=click.Choice(DEAD_REASONS), help="Only deliveries dead for this reason."),
        click.option("--since", metavar="TIME", help="Created at or after. " + TIME_HELP),
        click.option("--until", metavar="TIME", help="Created before. " + TIME_HELP),
    )):
        func = decorator(func)
    return func


def filters(endpoint_id, event_type, reason, since, until) -> dict:
    return {
        "endpoint_id": endpoint_id, "event_type": event_type, "reason": reason,
        "since": parse_time("--since", since), "until": parse_time("--until", until),
    }


@click.group(cls=ClientGroup)
def dlq() -> None:
    """Dead deliveries: list them, replay them into the retry schedule, or discard them."""


@dlq.command("list")
@client_options
@filter_options
@limit_option("dead deliveries")
@click.option("--cursor", metavar="CURSOR", help="Continue from a previous answer's next_cursor.")
@all_option("dead deliveries")
def list_dead(session: Session, endpoint_id, event_type, reason, since, until, limit, cursor, follow) -> None:
    """List dead deliveries, newest first (GET /v1/dlq)."""
    params = {**filters(endpoint_id, event_type, reason, since, until), "cursor": cursor}
    page = collect(session.api, "/v1/dlq", params, total=total(limit, follow), follow=follow)
    if session.as_json:
        output.print_json(page)
        return
    output.table(page["data"], DLQ_COLUMNS, empty="the dead-letter queue is empty")
    output.more(page["next_cursor"], "hookrelay dlq list")


@dlq.command("replay")
@client_options
@click.argument("delivery_ids", nargs=-1, metavar="[DELIVERY_ID]...")
@filter_options
def replay(session: Session, delivery_ids: tuple[str, ...], endpoint_id, event_type, reason, since, until) -> None:
    """Put dead deliveries back into the retry schedule (POST /v1/dlq/replay).

    Give delivery ids, or at least one filter to replay every dead delivery that matches it
    (e.g. --endpoint-id ep_… --reason retries_exhausted). With neither, nothing is replayed.
    """
    chosen = {k: v for k, v in filters(endpoint_id, event_type, reason, since, until).items() if v is not None}
    if delivery_ids and chosen:
        raise ClientError("give delivery ids or filters, not both")
    if not delivery_ids and not chosen:
        raise ClientError(
            "nothing to replay: give delivery ids or at least one filter"
            " (--endpoint-id, --event-type, --reason, --since, --until)"
        )
    body = {"ids": list(delivery_ids)} if delivery_ids else chosen
    answer = session.api.post("/v1/dlq/replay", json=body)
    if session.as_json:
        output.print_json(answer)
        return
    requeued = answer.get("requeued") if isinstance(answer, dict) else None
    output.line(f"requeued {requeued} dead deliver{'y' if requeued == 1 else 'ies'}")


@dlq.command("discard")
@client_options
@click.argument("delivery_id")
def discard(session: Session, delivery_id: str) -> None:
    """Discard a dead delivery for good (DELETE /v1/dlq/ID); it becomes "discarded"."""
    delivery = session.api.delete(f"/v1/dlq/{delivery_id}")
    if session.as_json:
        output.print_json(delivery)
        return
    state = delivery.get("status", "discarded") if isinstance(delivery, dict) else "discarded"
    output.line(f"delivery {delivery_id}: {state}")
