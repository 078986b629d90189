"""What the product does, in one place: every business process with its workflows, activity
classes, routers and CLI groups, listed explicitly (nothing is discovered, so a reader and a tool
can follow every arrow). A new process gets a package under ``followthrough/processes/`` and one
entry here.

This is the composition root: the top of the import graph. It imports every process, and the
entry points (``cli.py``, ``serve.py``, the tests) import it; the foundations it feeds (the app
factory in ``api/app.py``, the worker in ``temporal/worker.py``, the workflow operations) take
the lists as arguments and never import this module. :func:`create_app` and
:func:`build_worker` are the product's app and worker, wired with :func:`catalog`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from followthrough.manifest import Catalog, Process, activity_methods

if TYPE_CHECKING:
    from fastapi import FastAPI
    from temporalio.client import Client
    from temporalio.worker import Worker

    from followthrough.config import Settings
    from followthrough.services import Services

__all__ = [
    "Catalog",
    "Process",
    "activity_methods",
    "build_activities",
    "build_worker",
    "catalog",
    "command_groups",
    "create_app",
    "workflow_classes",
]


@cache
def processes() -> tuple[Process, ...]:
    """Every process (imported on first use: the worker, the API and the CLI need them all)."""

    import followthrough.api.routes.codec
    import followthrough.api.routes.metrics
    import followthrough.api.routes.workflows
    import followthrough.commands.db
    import followthrough.commands.demo
    import followthrough.commands.keys
    import followthrough.commands.webhook
    import followthrough.leads.activities
    import followthrough.llm.activities
    import followthrough.messaging.activities
    import followthrough.processes.bookings.appointments
    import followthrough.processes.bookings.calendar_activities
    import followthrough.processes.bookings.routes
    import followthrough.processes.bookings.webhook
    import followthrough.processes.bookings.workflow
    import followthrough.processes.campaigns.activities
    import followthrough.processes.campaigns.cli
    import followthrough.processes.campaigns.lead
    import followthrough.processes.campaigns.linkedin_activities
    import followthrough.processes.campaigns.orchestrator
    import followthrough.processes.campaigns.records
    import followthrough.processes.campaigns.routes
    import followthrough.processes.campaigns.sender
    import followthrough.processes.campaigns.slots
    import followthrough.processes.campaigns.webhook
    import followthrough.processes.content.activities
    import followthrough.processes.content.routes
    import followthrough.processes.content.workflow
    import followthrough.processes.data_sync.activities
    import followthrough.processes.data_sync.cli
    import followthrough.processes.data_sync.workflow
    import followthrough.processes.deployments.activities
    import followthrough.processes.deployments.routes
    import followthrough.processes.deployments.webhook
    import followthrough.processes.deployments.workflow
    import followthrough.processes.followups.routes
    import followthrough.processes.followups.workflow
    import followthrough.processes.health.activities
    import followthrough.processes.health.routes
    import followthrough.processes.health.workflow
    import followthrough.processes.inbound.activities
    import followthrough.processes.inbound.webhook
    import followthrough.processes.inbound.workflow
    import followthrough.processes.integrations.conversions
    import followthrough.processes.integrations.crm
    import followthrough.processes.integrations.routes
    import followthrough.processes.integrations.workflow
    import followthrough.processes.notifications.activities
    import followthrough.processes.notifications.routes
    import followthrough.processes.notifications.workflow
    import followthrough.processes.onboarding.activities
    import followthrough.processes.onboarding.partner_routes
    import followthrough.processes.onboarding.routes
    import followthrough.processes.onboarding.workflow
    import followthrough.processes.payments.activities
    import followthrough.processes.payments.records
    import followthrough.processes.payments.routes
    import followthrough.processes.payments.sandbox_routes
    import followthrough.processes.payments.webhook
    import followthrough.processes.payments.workflow
    import followthrough.processes.senders.cli
    import followthrough.processes.senders.routes
    import followthrough.processes.senders.webhook

    P = followthrough.processes
    return (
        Process(
            "bookings",
            workflows=(P.bookings.workflow.DemoBookingWorkflow,),
            activities=(
                P.bookings.appointments.AppointmentActivities,
                P.bookings.calendar_activities.CalendarActivities,
            ),
            routers=(
                (P.bookings.routes.router, False),
                (P.bookings.webhook.router, True),
            ),
        ),
        Process(
            "campaigns",
            workflows=(
                P.campaigns.orchestrator.CampaignOrchestratorWorkflow,
                P.campaigns.lead.LeadOutreachWorkflow,
                P.campaigns.sender.SenderWorkflow,
            ),
            activities=(
                P.campaigns.records.CampaignExecutionActivities,
                P.campaigns.activities.CampaignActivities,
                P.campaigns.linkedin_activities.LinkedInActivities,
                P.campaigns.slots.OutreachActivities,
            ),
            routers=(
                (P.campaigns.routes.router, False),
                (P.campaigns.webhook.router, True),
            ),
            commands=(("campaign", P.campaigns.cli.app),),
        ),
        Process(
            "content",
            workflows=(P.content.workflow.ContentPipelineWorkflow,),
            activities=(P.content.activities.ContentActivities,),
            routers=((P.content.routes.router, False),),
        ),
        Process(
            "data_sync",
            workflows=(P.data_sync.workflow.DataSyncWorkflow,),
            activities=(P.data_sync.activities.DataSyncActivities,),
            commands=(("schedule", P.data_sync.cli.app),),
        ),
        Process(
            "deployments",
            workflows=(P.deployments.workflow.BotDeploymentWorkflow,),
            activities=(P.deployments.activities.DeploymentActivities,),
            routers=(
                (P.deployments.routes.router, False),
                (P.deployments.webhook.router, True),
            ),
        ),
        Process(
            "followups",
            workflows=(P.followups.workflow.FollowUpWorkflow,),
            routers=((P.followups.routes.router, False),),
        ),
        Process(
            "health",
            workflows=(P.health.workflow.HealthCheckWorkflow,),
            activities=(P.health.activities.HealthActivities,),
            routers=((P.health.routes.router, True),),
        ),
        Process(
            "inbound",
            workflows=(P.inbound.workflow.InboundMessageWorkflow,),
            activities=(P.inbound.activities.InboundActivities,),
            routers=((P.inbound.webhook.router, True),),
        ),
        Process(
            "integrations",
            workflows=(P.integrations.workflow.IntegrationSyncWorkflow,),
            activities=(
                P.integrations.conversions.ConversionsActivities,
                P.integrations.crm.CRMActivities,
            ),
            routers=((P.integrations.routes.router, False),),
        ),
        Process(
            "notifications",
            workflows=(P.notifications.workflow.SendNotificationWorkflow,),
            activities=(P.notifications.activities.NotificationActivities,),
            routers=((P.notifications.routes.router, False),),
        ),
        Process(
            "onboarding",
            workflows=(P.onboarding.workflow.UserOnboardingWorkflow,),
            activities=(P.onboarding.activities.UserStoreActivities,),
            routers=(
                (P.onboarding.routes.router, False),
                (P.onboarding.partner_routes.router, False),
            ),
        ),
        Process(
            "payments",
            workflows=(P.payments.workflow.PaymentWorkflow,),
            activities=(
                P.payments.activities.PaymentsActivities,
                P.payments.records.PaymentRecordActivities,
            ),
            routers=(
                (P.payments.routes.router, False),
                (P.payments.sandbox_routes.router, True),
                (P.payments.webhook.router, True),
            ),
        ),
        Process(
            "senders",
            routers=(
                (P.senders.routes.router, False),
                (P.senders.webhook.router, True),
            ),
            commands=(("sender", P.senders.cli.app),),
        ),
        # Foundations every process leans on: leads, the llm and messaging serve several processes; the
        # generic workflow routes, the codec and metrics; the store and key commands.
        Process(
            "platform",
            activities=(
                followthrough.leads.activities.LeadActivities,
                followthrough.llm.activities.LLMActivities,
                followthrough.messaging.activities.MessagingActivities,
            ),
            routers=(
                (followthrough.api.routes.workflows.router, False),
                (followthrough.api.routes.codec.router, True),
                (followthrough.api.routes.metrics.router, False),
            ),
            commands=(
                ("db", followthrough.commands.db.app),
                ("demo", followthrough.commands.demo.app),
                ("keys", followthrough.commands.keys.app),
                ("webhook", followthrough.commands.webhook.app),
            ),
        ),
    )


@cache
def catalog() -> Catalog:
    """The product: every process above."""
    return Catalog(processes())


def workflow_classes() -> tuple[type, ...]:
    return catalog().workflows


def command_groups() -> tuple[tuple[str, Any], ...]:
    return catalog().commands


def build_activities(services: Services) -> list[Callable[..., Any]]:
    return catalog().activities(services)


def create_app(
    settings: Settings, *, api_key: str, services: Services | None = None, client: Client | None = None
) -> FastAPI:
    """The product's API: :func:`followthrough.api.app.create_app` with every process."""
    from followthrough.api.app import create_app as app_of

    return app_of(settings, catalog(), api_key=api_key, services=services, client=client)


def build_worker(
    client: Client,
    services: Services,
    *,
    task_queue: str | None = None,
    workflows: Sequence[type] | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
    **overrides: Any,
) -> Worker:
    """The product's worker: every workflow and activity (tests may pass their own lists)."""
    from followthrough.temporal.worker import build_worker as worker_of

    return worker_of(
        client,
        services,
        task_queue=task_queue,
        workflows=workflow_classes() if workflows is None else workflows,
        activities=build_activities(services) if activities is None else activities,
        **overrides,
    )
