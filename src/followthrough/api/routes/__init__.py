"""The platform's routers (generic workflow routes, codec, metrics), listed with the processes'
in ``followthrough/catalog.py`` as (router, public) pairs: a public router checks the caller's
own credential (a provider's signature, the codec's) instead of the API key."""
