"""Adapters to the external services, one module per capability.

Each capability (``messaging``, ``calendar``, ``payments``, ``crm``, ``conversions``, ``llm``,
``linkedin``, ``bots``) is a Protocol with a real client (the official SDK or ``httpx`` against
the documented REST API) and a sandbox client (records the call in the outbox, answers like the
service, injects seeded faults). :func:`followthrough.providers.factory.build_providers` picks
one per provider from the settings; ``Services.providers`` holds the result.

This package's ``__init__`` stays import-light on purpose: ``config`` imports
:mod:`followthrough.providers.selection` to validate settings.
"""
