"""Every workflow of the package, one module per business process.

Workflows are discovered (:func:`followthrough.registry.workflow_classes`): a new module here
with a ``@workflow.defn`` class is registered on the worker and accepted by the API and CLI.
This package's ``__init__`` stays empty because the workflow sandbox re-imports it.
"""
