"""The module ``hookrelay worker`` hands to Dramatiq's CLI in each worker process."""

from hookrelay.queue.actors import configure_worker_process

configure_worker_process()
