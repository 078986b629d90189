"""The HTTP API (FastAPI): the app factory, auth, errors, limits, the generic workflow routes
and the webhooks' common parts. The product's app (every process's routers) is
:func:`followthrough.catalog.create_app`."""
