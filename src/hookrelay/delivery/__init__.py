"""Sending webhooks: build the signed request, send it through one pooled client, guard SSRF.

* ``request``  - :func:`build_webhook_request`, :func:`encode_event_body`: the wire contract.
* ``client``   - :class:`DeliveryClient`: one per event loop; ``send`` never raises.
* ``ssrf``     - resolution and the connect-time guard; :func:`check_url_target` for the API.
* ``failures`` - exception → ``TransportError`` kind.
* ``slots``    - in-flight caps taken before an attempt's clock starts.

Only this package (and the CLI client) imports httpx (ARCHITECTURE "Suggested layout").
"""

from hookrelay.delivery.client import RESPONSE_BODY_LIMIT, DeliveryClient, SendResult
from hookrelay.delivery.request import (
    WebhookRequest,
    build_webhook_request,
    custom_header_problem,
    encode_event_body,
    redacted_headers,
)
from hookrelay.delivery.ssrf import check_url_target

__all__ = [
    "RESPONSE_BODY_LIMIT",
    "DeliveryClient",
    "SendResult",
    "WebhookRequest",
    "build_webhook_request",
    "check_url_target",
    "custom_header_problem",
    "encode_event_body",
    "redacted_headers",
]
