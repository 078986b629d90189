"""Routers of the API, discovered (:func:`followthrough.catalog.routers`): each module has a
``router``; webhook modules set ``PUBLIC = True`` because they check the provider's own
signature instead of the API key."""
