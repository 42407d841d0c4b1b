"""Job handlers: the registry, the built-in demo types and the runner that executes them."""

from hookrelay.jobs.registry import JobContext, JobError, job

__all__ = ["JobContext", "JobError", "job"]
