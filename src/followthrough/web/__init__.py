"""The business web app under ``/app``: campaigns and their funnels, a lead's timeline, today.

Server-rendered Jinja2 templates with htmx (vendored under ``static/``, nothing from a CDN) and
plain CSS, served by the API process itself (:func:`followthrough.web.install.install_web`).
Pages are signed in with an organization's API key (:mod:`followthrough.web.session`) and show
only that organization's records; they are left out of the OpenAPI document.

The package's ``__init__`` imports nothing: a page module that names a sibling
(``followthrough.web.funnel``) does not run every page's imports first, nor close a circle
through the package (tests/test_composition_root.py refuses import cycles).
"""
