"""Rate limits per API key and per webhook source: 429 with ``Retry-After`` past the limit.

* every keyed route counts against its caller's key (``FOLLOWTHROUGH_RATE_LIMIT``, 600/minute):
  the dependency runs after :func:`~followthrough.api.auth.require_key`, so the key is known; the
  operator's key has its own bucket like any other;
* every provider webhook counts against the provider and the client's address
  (``FOLLOWTHROUGH_WEBHOOK_RATE_LIMIT``, 6000/minute);
* ``/healthz`` and ``/metrics`` are not limited (a probe or a scraper must never be refused).

The counters are a moving window of the `limits <https://limits.readthedocs.io>`_ library: in
Redis when ``REDIS_URL`` is set, so the limit holds across every API process, in memory (per
process) otherwise. A Redis that does not answer lets requests through and logs why: the limit
protects the service, and refusing everyone because a counter is down would not.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

from fastapi import Depends, HTTPException, Request, status
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from followthrough.api.auth import principal_of
from followthrough.api.webhook_common import PREFIX as WEBHOOK_PREFIX
from followthrough.config import Settings

log = logging.getLogger(__name__)

#: Paths never limited.
UNLIMITED_PATHS = frozenset({"/healthz", "/metrics"})
#: Seconds between two warnings that the counters' store does not answer.
_WARN_EVERY = 60.0


def storage_for(settings: Settings) -> Storage:
    """Redis (through redis-py) when ``REDIS_URL`` is set, else this process's memory."""
    if not settings.redis_url:
        return MemoryStorage()
    uri = settings.redis_url if settings.redis_url.startswith("async+") else f"async+{settings.redis_url}"
    return RedisStorage(
        uri,
        implementation="redispy",
        wrap_exceptions=True,
        key_prefix=f"{settings.followthrough_rate_limit_prefix}:limits",
        socket_connect_timeout=2.0,
        socket_timeout=2.0,
    )


class RateLimiter:
    """The app's counters (``app.state.rate_limiter``)."""

    def __init__(self, settings: Settings) -> None:
        self.storage = storage_for(settings)
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.per_key = parse(settings.followthrough_rate_limit) if settings.followthrough_rate_limit else None
        self.per_webhook = (
            parse(settings.followthrough_webhook_rate_limit) if settings.followthrough_webhook_rate_limit else None
        )
        self._warned = 0.0

    async def hit(self, item: RateLimitItem | None, variable: str, *identifiers: str) -> None:
        """Count one request; 429 with ``Retry-After`` (whole seconds) once the window is full."""
        if item is None:
            return
        try:
            if await self.strategy.hit(item, *identifiers):
                return
            stats = await self.strategy.get_window_stats(item, *identifiers)
        except StorageError as exc:
            if time.monotonic() - self._warned > _WARN_EVERY:
                self._warned = time.monotonic()
                log.warning("rate limits not enforced: their store does not answer (%s)", exc.storage_error)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {item} exceeded ({variable}); retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def key_rate_limit(request: Request) -> None:
    """Per API key (after ``require_key``, which names the caller)."""
    limiter = _limiter(request)
    await limiter.hit(limiter.per_key, "FOLLOWTHROUGH_RATE_LIMIT", "key", principal_of(request).key_id)


async def webhook_rate_limit(request: Request) -> None:
    """Per webhook (its route) and client address."""
    limiter = _limiter(request)
    route = getattr(request.scope.get("route"), "path", request.url.path)
    client = request.client.host if request.client else "unknown"
    await limiter.hit(limiter.per_webhook, "FOLLOWTHROUGH_WEBHOOK_RATE_LIMIT", "webhook", route, client)


def limits_for(router: Any, public: bool) -> Sequence[Any]:
    """The rate-limit dependency a router gets: per key when keyed, per source for the provider
    webhooks, none for the probes (``/healthz``, ``/metrics``) and the other public pages."""
    paths = {getattr(route, "path", "") for route in router.routes}
    if paths and paths <= UNLIMITED_PATHS:
        return []
    if public:
        webhooks = paths and all(path.startswith(f"{WEBHOOK_PREFIX}/") for path in paths)
        return [Depends(webhook_rate_limit)] if webhooks else []
    return [Depends(key_rate_limit)]
