"""Whether the web app's campaign numbers stay quick with 100,000 leads in one campaign.

Fills a campaign with ``--leads`` lead execution records (and a second campaign with a fifth as
many, so the queries must pick their campaign's rows), on SQLite and on PostgreSQL, with the
step mix a running campaign has (visited, waiting at the delay, replied or not, messaged,
a few failed), then times what a page refresh asks of the store: the campaign page's funnel
(:meth:`CampaignExecutions.step_counts`) and the campaigns list's leads per state
(:meth:`CampaignExecutions.status_counts_for`). Median of ``--repeat`` runs, after one warm-up.

    python -m bench.web_funnel --leads 100000
    python -m bench.web_funnel --postgres postgresql+asyncpg://user@host:5432/postgres

PostgreSQL: a scratch database is created on the server of ``--postgres`` (default
``$FOLLOWTHROUGH_BENCH_POSTGRES_URL``) and dropped at the end; without a URL only SQLite runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from followthrough.store import Database
from followthrough.store.migrate import upgrade
from followthrough.store.models import CampaignExecution
from followthrough.store.repositories import CampaignExecutions, Campaigns, SenderAccounts
from followthrough.store.types import utcnow

BATCH = 5000


def step(n: int, node: str, status: str = "done", branch: bool | None = None) -> dict[str, Any]:
    return {"step": n, "node_id": node, "kind": "action", "status": status, "branch": branch}


def record(campaign_id: str, i: int) -> dict[str, Any]:
    """Lead ``i``'s record: where a running campaign's leads are, in a fixed mix."""
    visit, wait = step(1, "visit"), step(2, "wait")
    kind = i % 20
    if kind < 2:
        status, steps = "in_progress", []  # not started yet
    elif kind < 10:
        status, steps = "in_progress", [visit]  # resting at the delay
    elif kind < 14:
        status, steps = "completed", [visit, wait, step(3, "replied", branch=True)]
    elif kind < 19:
        status, steps = "completed", [visit, wait, step(3, "replied", branch=False), step(4, "hello")]
    else:
        status, steps = "failed", [step(1, "visit", "failed")]
    now = utcnow()
    return {
        "id": str(uuid.uuid4()),
        "campaign_id": campaign_id,
        "lead_id": f"lead-{i}",
        "status": status,
        "current_step": len(steps),
        "total_steps": 4,
        "execution_data": {"steps": steps},
        "created_at": now,
        "updated_at": now,
    }


async def fill(database: Database, leads: int) -> str:
    sender = await SenderAccounts(database).create(display_name="Bench", organization_id="org-bench")
    campaigns = Campaigns(database)
    target = (await campaigns.create(name="Big", organization_id="org-bench", sender_account_id=sender.id)).id
    other = (await campaigns.create(name="Other", organization_id="org-bench", sender_account_id=sender.id)).id
    for campaign_id, count in ((target, leads), (other, leads // 5)):
        for start in range(0, count, BATCH):
            rows = [record(campaign_id, i) for i in range(start, min(start + BATCH, count))]
            async with database.transaction() as connection:
                await connection.execute(insert(CampaignExecution.__table__), rows)  # type: ignore[arg-type]
    if database.engine.dialect.name == "postgresql":
        async with database.transaction() as connection:
            await connection.execute(text("ANALYZE campaign_executions"))
    return target


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    result = await call()  # warm-up
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = await call()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000, result


async def measure(name: str, url: str, leads: int, repeat: int) -> None:
    await upgrade(url)
    database = Database(url)
    try:
        start = time.perf_counter()
        campaign = await fill(database, leads)
        filled = time.perf_counter() - start
        executions = CampaignExecutions(database)
        steps_ms, (counts, unstarted) = await timed(lambda: executions.step_counts(campaign), repeat)
        states_ms, states = await timed(lambda: executions.status_counts_for([campaign]), repeat)
        in_steps = sum(c.count for c in counts if c.node_id == "visit")
        assert in_steps + unstarted == leads, (in_steps, unstarted)  # every lead counted once at the start
        assert sum(states[campaign].values()) == leads
        print(
            f"{name:<11} {leads:>7} leads (filled in {filled:5.1f} s): "
            f"step_counts {steps_ms:7.1f} ms · list page's status_counts_for {states_ms:6.1f} ms"
        )
    finally:
        await database.close()


async def on_postgres(server: str, leads: int, repeat: int) -> None:
    name = f"bench_web_funnel_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
            await measure("postgresql", url, leads, repeat)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("FOLLOWTHROUGH_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        await measure("sqlite", f"sqlite+aiosqlite:///{Path(home) / 'bench.db'}", args.leads, args.repeat)
    if args.postgres:
        await on_postgres(args.postgres, args.leads, args.repeat)
    else:
        print("postgresql  skipped: give --postgres or FOLLOWTHROUGH_BENCH_POSTGRES_URL")


if __name__ == "__main__":
    asyncio.run(main())
