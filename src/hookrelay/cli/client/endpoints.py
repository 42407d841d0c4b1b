"""``hookrelay endpoints list|create|rotate-secret|enable|disable|recover``."""

from __future__ import annotations

import click

from hookrelay.cli.client import output
from hookrelay.cli.client.common import (
    TIME_HELP, ClientGroup, Session, client_options, parse_json_object, parse_time, split_list,
)
from hookrelay.cli.client.deliveries import all_option, limit_option, total
from hookrelay.cli.client.http import ClientError, collect

ENDPOINT_FIELDS = (
    "id", "url", "status", "disabled_reason", "event_types", "description", "rate_limit", "headers", "metadata",
    "created_at", "updated_at",
)
ENDPOINT_COLUMNS: list[output.Column] = [
    ("id", lambda e: e.get("id")),
    ("url", lambda e: e.get("url")),
    ("event types", lambda e: ", ".join(e.get("event_types") or [])),
    ("status", lambda e: output.status(e.get("status"))),
    ("reason", lambda e: e.get("disabled_reason")),
    ("rate/s", lambda e: e.get("rate_limit")),
    ("description", lambda e: e.get("description")),
]


def parse_headers(values: tuple[str, ...]) -> dict[str, str] | None:
    if not values:
        return None
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise ClientError(f"--header {value!r} must look like 'Name: value'")
        headers[name.strip()] = content.strip()
    return headers


@click.group(cls=ClientGroup)
def endpoints() -> None:
    """Webhook endpoints: where an application's events are delivered."""


@endpoints.command("list")
@client_options
@limit_option("endpoints")
@click.option("--cursor", metavar="CURSOR", help="Continue from a previous answer's next_cursor.")
@all_option("endpoints")
def list_endpoints(session: Session, limit, cursor, follow) -> None:
    """List the application's endpoints (GET /v1/endpoints)."""
    page = collect(session.api, "/v1/endpoints", {"cursor": cursor}, total=total(limit, follow), follow=follow)
    if session.as_json:
        output.print_json(page)
        return
    output.table(page["data"], ENDPOINT_COLUMNS, empty="no endpoints")
    output.more(page["next_cursor"], "hookrelay endpoints list")


@endpoints.command("create")
@client_options
@click.argument("url")
@click.option("--events", "events", multiple=True, metavar="TYPES",
              help="Event types to receive, comma-separated or repeated; a trailing * matches a prefix"
                   " (job.*,invoice.paid). Default: every type.")
@click.option("--description", help="A note for people.")
@click.option("--rate-limit", type=click.IntRange(min=1), metavar="N", help="At most N deliveries per second.")
@click.option("--header", "header_values", multiple=True, metavar="'K: V'",
              help="A header to add to every request (repeatable).")
@click.option("--metadata", metavar="JSON", help="A JSON object kept with the endpoint.")
@click.option("--secret", metavar="WHSEC", help="Use this whsec_… signing secret instead of a generated one.")
def create(session: Session, url, events, description, rate_limit, header_values, metadata, secret) -> None:
    """Register an endpoint (POST /v1/endpoints); prints its signing secret."""
    body = {
        "url": url, "event_types": split_list(events) or None, "description": description, "rate_limit": rate_limit,
        "headers": parse_headers(header_values), "metadata": parse_json_object("--metadata", metadata),
        "secret": secret,
    }
    endpoint = session.api.post("/v1/endpoints", json={k: v for k, v in body.items() if v is not None})
    if session.as_json:
        output.print_json(endpoint)
        return
    output.details(endpoint, ENDPOINT_FIELDS, title=f"endpoint {endpoint.get('id')} created")
    output.line(f"signing secret: {endpoint.get('secret')}")


@endpoints.command("rotate-secret")
@client_options
@click.argument("endpoint_id")
def rotate_secret(session: Session, endpoint_id: str) -> None:
    """Replace the signing secret; the old one keeps signing for the rotation grace period."""
    answer = session.api.post(f"/v1/endpoints/{endpoint_id}/secret/rotate")
    if session.as_json:
        output.print_json(answer)
        return
    output.line(f"new signing secret for {endpoint_id}: {answer.get('secret')}")


def _set_state(session: Session, endpoint_id: str, action: str) -> None:
    endpoint = session.api.post(f"/v1/endpoints/{endpoint_id}/{action}")
    if session.as_json:
        output.print_json(endpoint)
        return
    reason = endpoint.get("disabled_reason")
    output.line(f"endpoint {endpoint_id}: {endpoint.get('status')}" + (f" ({reason})" if reason else ""))


@endpoints.command("enable")
@client_options
@click.argument("endpoint_id")
def enable(session: Session, endpoint_id: str) -> None:
    """Enable an endpoint (also resets its circuit breaker)."""
    _set_state(session, endpoint_id, "enable")


@endpoints.command("disable")
@client_options
@click.argument("endpoint_id")
def disable(session: Session, endpoint_id: str) -> None:
    """Disable an endpoint: no new deliveries are made to it."""
    _set_state(session, endpoint_id, "disable")


@endpoints.command("recover")
@client_options
@click.argument("endpoint_id")
@click.option("--since", required=True, metavar="TIME", help="Requeue failed deliveries created since. " + TIME_HELP)
@click.option("--until", metavar="TIME", help="...and before this time. " + TIME_HELP)
def recover(session: Session, endpoint_id: str, since: str, until: str | None) -> None:
    """Requeue the endpoint's failed deliveries in a time window (POST /v1/endpoints/ID/recover)."""
    body = {"since": parse_time("--since", since), "until": parse_time("--until", until)}
    answer = session.api.post(
        f"/v1/endpoints/{endpoint_id}/recover", json={k: v for k, v in body.items() if v is not None}
    )
    if session.as_json:
        output.print_json(answer)
        return
    requeued = answer.get("requeued") if isinstance(answer, dict) else None
    window = f"since {body['since']}" + (f" until {body['until']}" if body["until"] else "")
    output.line(f"requeued {requeued} deliver{'y' if requeued == 1 else 'ies'} of {endpoint_id} {window}")
