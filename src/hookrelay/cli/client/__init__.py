"""Client commands (SPEC §7): talk to a running hookrelay API over HTTP.

Every command takes ``--api-url`` (HOOKRELAY_API_URL), ``--api-key`` (HOOKRELAY_API_KEY) and
``--json``, and reports any failure as one ``error: …`` line on stderr with exit status 1.
"""

from hookrelay.cli.client.deliveries import deliveries
from hookrelay.cli.client.dlq import dlq
from hookrelay.cli.client.endpoints import endpoints
from hookrelay.cli.client.jobs import jobs
from hookrelay.cli.client.trigger import trigger

__all__ = ["deliveries", "dlq", "endpoints", "jobs", "trigger"]
