"""Job execution: claim under a lease, run steps through a narrow worker interface, persist in batches."""

from gateway.runner.client import HttpWorkerClient, WorkerCallError, WorkerClient
from gateway.runner.job import RunnerContext
from gateway.runner.runner import Runner

__all__ = ["HttpWorkerClient", "Runner", "RunnerContext", "WorkerCallError", "WorkerClient"]
