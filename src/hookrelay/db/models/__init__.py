"""One table per module; importing this package registers them all on ``Base.metadata``."""

from hookrelay.db.models.applications import ApiKey, Application
from hookrelay.db.models.attempts import Attempt
from hookrelay.db.models.base import Base
from hookrelay.db.models.deliveries import Delivery
from hookrelay.db.models.endpoints import Endpoint
from hookrelay.db.models.events import Event
from hookrelay.db.models.idempotency import IdempotencyRecord
from hookrelay.db.models.jobs import Job

__all__ = ["ApiKey", "Application", "Attempt", "Base", "Delivery", "Endpoint", "Event", "IdempotencyRecord", "Job"]
