"""Feature flags of the sales assistant: durable workflow, or the same activities inline.

``USE_TEMPORAL_FOLLOWUPS``, ``USE_TEMPORAL_BOOKING``, ``USE_TEMPORAL_PAYMENTS`` and
``USE_TEMPORAL_INTEGRATIONS`` (default on) are the seed's migration path, ``USE_TEMPORAL_ONBOARDING``
the same for Nexpo's ``POST /api/users``, and ``ENABLE_TEMPORAL`` (or ``TEMPORAL_ENABLED``) the
switch over all of them: off, every flagged route runs inline. On, a route starts
the workflow. Off, it runs the workflow's own steps (a function of
:class:`~followthrough.temporal.steps.Steps`) on :class:`~followthrough.temporal.steps.InlineSteps`,
which awaits the very activity methods the worker would run, in the API process: best effort,
not durable, lost on restart — and it says so, with ``"mode": "inline"`` in the answer and a warning in the
log. Flags are read from the app's settings on every request, never by a workflow, so
flipping one (and restarting the API) leaves every running workflow exactly as it was.

Inline runs that take time (a follow-up waits hours) are background tasks held by
:class:`InlineRuns` on the app, which ``GET`` routes read and a webhook may cancel per lead.

:class:`FlaggedRoute` is what a business route's ``POST`` (start, durable or inline as the
flag says, deduplicated by workflow id) and ``GET`` (the run's status) have in common, so each
route module keeps only its own input, workflow id and inline steps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Response, status
from pydantic import BaseModel

from followthrough.api.auth import principal_of
from followthrough.api.deps import ServicesDep, SettingsDep, workflows_for
from followthrough.api.routes.workflows import closed_outcome
from followthrough.config import Settings
from followthrough.temporal.operations import (
    QueryFailed,
    QueryNotAnswered,
    WorkflowFailed,
    Workflows,
    WorkflowTaskFailing,
)
from followthrough.temporal.tenancy import IdTaken

log = logging.getLogger("followthrough.flags")

Mode = Literal["temporal", "inline"]


class Feature(StrEnum):
    FOLLOWUPS = "followups"
    BOOKING = "booking"
    PAYMENTS = "payments"
    INTEGRATIONS = "integrations"
    ONBOARDING = "onboarding"

    @property
    def variable(self) -> str:
        return f"USE_TEMPORAL_{self.value.upper()}"

    @property
    def workflow(self) -> str:
        """The workflow type a route of this feature starts when its flag is on."""
        return _WORKFLOWS[self]

    @property
    def what(self) -> str:
        """One run of this feature, as the inline log line says it."""
        return _WHAT[self]


_WORKFLOWS = {
    Feature.FOLLOWUPS: "FollowUpWorkflow",
    Feature.BOOKING: "DemoBookingWorkflow",
    Feature.PAYMENTS: "PaymentWorkflow",
    Feature.INTEGRATIONS: "IntegrationSyncWorkflow",
    Feature.ONBOARDING: "UserOnboardingWorkflow",
}
_WHAT = {
    Feature.FOLLOWUPS: "a follow-up",
    Feature.BOOKING: "a demo booking",
    Feature.PAYMENTS: "a payment",
    Feature.INTEGRATIONS: "an integration sync",
    Feature.ONBOARDING: "a user onboarding",
}


def use_temporal(settings: Settings, feature: Feature) -> bool:
    return settings.enable_temporal and bool(getattr(settings, f"use_temporal_{feature.value}"))


def integrations_on(settings: Settings) -> bool:
    """Whether a booking or payment workflow starts its own integration sync: only when the sync
    itself would be durable (``USE_TEMPORAL_INTEGRATIONS``); off, the caller's legacy path syncs."""
    return use_temporal(settings, Feature.INTEGRATIONS)


def mode(settings: Settings, feature: Feature) -> Mode:
    return "temporal" if use_temporal(settings, feature) else "inline"


def log_inline(settings: Settings, feature: Feature, what: str, **ids: str | None) -> None:
    """The log line every inline run writes, so operators see the non-durable path taken, and
    which switch took it: the feature's own or the master ``ENABLE_TEMPORAL``."""
    switch = feature.variable if settings.enable_temporal else "ENABLE_TEMPORAL"
    details = " ".join(f"{k}={v}" for k, v in sorted(ids.items()) if v is not None)
    log.warning("%s is off: running %s inline (best effort, not durable) %s", switch, what, details)


# --- background inline runs ---------------------------------------------------------------
@dataclass
class InlineRun:
    id: str
    feature: Feature
    lead_id: str | None
    status: dict[str, Any]
    #: Whose run it is (None: the operator's); another organization's key does not see it.
    organization: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    task: asyncio.Task[None] | None = None
    error: str | None = None

    @property
    def state(self) -> str:
        if self.task is None or not self.task.done():
            return "RUNNING"
        if self.task.cancelled():
            return "CANCELED"
        return "FAILED" if self.error else "COMPLETED"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mode": "inline",
            "feature": self.feature.value,
            "state": self.state,
            "started_at": self.started_at.isoformat(),
            "error": self.error,
            "status": self.status,
        }


class InlineRuns:
    """Inline runs of this API process, by id (the id the workflow would have had)."""

    def __init__(self) -> None:
        self._runs: dict[str, InlineRun] = {}

    def get(self, run_id: str) -> InlineRun | None:
        return self._runs.get(run_id)

    def start(
        self,
        run_id: str,
        feature: Feature,
        work: Callable[[InlineRun], Coroutine[Any, Any, None]],
        *,
        lead_id: str | None = None,
        status: dict[str, Any] | None = None,
        organization: str | None = None,
    ) -> tuple[InlineRun, bool]:
        """Run ``work(run)`` in the background unless a run with this id is still going;
        returns the run and whether it was created (:class:`IdTaken` when another organization's
        run holds the id)."""
        existing = self._runs.get(run_id)
        if existing is not None and existing.state == "RUNNING":
            if existing.organization != organization:
                raise IdTaken(run_id)
            return existing, False
        run = InlineRun(id=run_id, feature=feature, lead_id=lead_id, status=status or {}, organization=organization)

        async def guarded() -> None:
            try:
                await work(run)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # best effort: the failure is the run's state, not a crash
                run.error = f"{type(exc).__name__}: {exc}"
                log.exception("inline %s run %s failed", feature.value, run_id)

        run.task = asyncio.get_running_loop().create_task(guarded(), name=f"inline-{run_id}")
        self._runs[run_id] = run
        return run, True

    def cancel_for_lead(self, lead_id: str, feature: Feature | None = None) -> list[str]:
        """Cancel the lead's running inline runs (a reply, an opt-out); returns their ids."""
        cancelled = []
        for run in self._runs.values():
            if run.lead_id == lead_id and run.state == "RUNNING" and feature in (None, run.feature):
                assert run.task is not None
                run.task.cancel()
                cancelled.append(run.id)
        return cancelled

    async def close(self) -> None:
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def get_inline_runs(request: Request) -> InlineRuns:
    state = request.app.state
    runs: InlineRuns | None = getattr(state, "inline_runs", None)
    if runs is None:
        runs = state.inline_runs = InlineRuns()
    return runs


InlineRunsDep = Annotated[InlineRuns, Depends(get_inline_runs)]


# --- the GET side of the business routes --------------------------------------------------
async def workflow_status(wf: Workflows, workflow_id: str, *, query: str | None = "status") -> dict[str, Any]:
    """``describe`` plus the workflow's own view: its result once completed, otherwise its
    ``query`` (None when the workflow has none). A query that cannot be answered within
    :attr:`Workflows.query_timeout` (no worker polling, the workflow's task failing) is reported
    in ``status_error``, with its cause, rather than failing the request."""
    info = await wf.describe(workflow_id)
    answer: dict[str, Any] = {"workflow_id": workflow_id, "mode": "temporal", "execution": info.as_dict()}
    status: Any = None
    try:
        if info.status == "COMPLETED":
            status = await wf.result(workflow_id)
        elif query is not None:
            status = await wf.query(workflow_id, query, internal=True)
    except (WorkflowFailed, WorkflowTaskFailing, QueryNotAnswered, QueryFailed) as exc:
        answer["status_error"] = f"{type(exc).__name__}: {exc}"
    answer["status"] = status.model_dump(mode="json") if hasattr(status, "model_dump") else status
    return answer


def inline_answer(run: InlineRun, created: bool) -> dict[str, Any]:
    return {"workflow_id": run.id, "run_id": None, "created": created, **run.as_dict()}


async def flagged_status(workflow_id: str, request: Request, inline: InlineRuns) -> dict[str, Any]:
    """A business route's ``GET``: the inline run of this process with that id, else the workflow
    (Temporal is connected only then)."""
    run = inline.get(workflow_id)
    if run is not None and principal_of(request).sees(run.organization):
        return inline_answer(run, False)
    return await workflow_status(await workflows_for(request), workflow_id)


class FlaggedRoute:
    """A business route's dependencies and the start/status logic every such route shares.

    Use it as ``route: FlaggedRouteDep``; the route keeps only what is its own (input, workflow
    id, the inline steps and the inline status it starts from).
    """

    def __init__(
        self,
        request: Request,
        response: Response,
        settings: SettingsDep,
        services: ServicesDep,
        inline: InlineRunsDep,
    ) -> None:
        self.request = request
        self.response = response
        self.settings = settings
        self.services = services
        self.inline = inline

    async def workflows(self) -> Workflows:
        """Temporal, connected only on a durable path: inline, the route never needs it."""
        return await workflows_for(self.request)

    async def start(
        self,
        feature: Feature,
        input: BaseModel,
        *,
        workflow_id: str,
        lead_id: str | None,
        inline_status: BaseModel,
        run_inline: Callable[[InlineRun], Coroutine[Any, Any, None]],
        wait_inline: bool = False,
    ) -> dict[str, Any]:
        """Start ``feature.workflow`` as ``workflow_id`` (on a second start the execution
        already there, running or closed with its result: 200 instead of 202), or with the flag
        off ``run_inline`` in the background, starting from ``inline_status`` (awaited first with
        ``wait_inline``)."""
        if not use_temporal(self.settings, feature):
            log_inline(self.settings, feature, feature.what, workflow_id=workflow_id, lead_id=lead_id)
            run, created = self.inline.start(
                workflow_id,
                feature,
                run_inline,
                lead_id=lead_id,
                status=inline_status.model_dump(mode="json"),
                organization=principal_of(self.request).organization,
            )
            if wait_inline and run.task is not None:
                await run.task
            self._created(created)
            return inline_answer(run, created)
        wf = await self.workflows()
        outcome = await wf.start(
            feature.workflow,
            input,
            workflow_id=workflow_id,
            search_attributes={"LeadId": lead_id} if lead_id is not None else None,
        )
        self._created(outcome.created)
        return {
            "workflow_id": outcome.workflow_id,
            "run_id": outcome.run_id,
            "created": outcome.created,
            "mode": "temporal",
            **await closed_outcome(wf, outcome),
        }

    async def status(self, workflow_id: str) -> dict[str, Any]:
        return await flagged_status(workflow_id, self.request, self.inline)

    def _created(self, created: bool) -> None:
        self.response.status_code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK


FlaggedRouteDep = Annotated[FlaggedRoute, Depends()]
