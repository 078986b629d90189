"""Every workflow of the package, one module per business process.

:data:`WORKFLOWS` is what the worker registers and what the API and CLI accept by type name;
add a new workflow class here.
"""

from followthrough.workflows.health import HealthCheckWorkflow

WORKFLOWS: list[type] = [
    HealthCheckWorkflow,
]

__all__ = ["WORKFLOWS", "HealthCheckWorkflow"]
