"""Thin views of the Integrations API: parse, check permission, call a service, serialise."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from connectors import registry
from connectors.capabilities import connector_listing
from hub.errors import ApiError, ErrorCode
from hub.permissions import IsAdmin, IsManager, SubscriptionActive
from hub.schema import errors
from integrations import selectors, services
from integrations.runs import engine, jobs
from integrations.serializers import (
    ConnectorListOutput,
    ConnectorOutput,
    HealthOutput,
    IntegrationCreatedOutput,
    IntegrationCreateInput,
    IntegrationListOutput,
    IntegrationOutput,
    IntegrationUpdateInput,
    PreviewOutput,
    SyncJobDetailOutput,
    SyncJobListOutput,
    SyncJobOutput,
    SyncStartedOutput,
)

TAGS = ["integrations"]
SCHEDULE_FIELDS = ("sync_interval_minutes", "run_after_sources")


def _integration(request: Request, integration_id):
    return selectors.integration_get(organisation=request.auth.organisation, integration_id=integration_id)


class ConnectorListApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(responses={200: ConnectorListOutput}, tags=TAGS)
    def get(self, request: Request) -> Response:
        infos = [connector_listing(cls) for cls in registry.all_connectors()]
        return Response({"connectors": ConnectorOutput(infos, many=True).data, "total": len(infos)})


class IntegrationListCreateApi(APIView):
    def get_permissions(self):
        if self.request.method == "POST":
            # Order fixed by Knora: role first, then subscription; the plan limit comes in the service.
            return [IsAdmin(), SubscriptionActive()]
        return [IsManager()]

    @extend_schema(responses={200: IntegrationListOutput}, tags=TAGS)
    def get(self, request: Request) -> Response:
        integrations = selectors.integration_list(organisation=request.auth.organisation)
        data = IntegrationOutput(integrations, many=True).data
        return Response({"integrations": data, "total": len(data)})

    @extend_schema(
        request=IntegrationCreateInput, responses={201: IntegrationCreatedOutput, **errors(404, 502)}, tags=TAGS
    )
    def post(self, request: Request) -> Response:
        body = IntegrationCreateInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        organisation = request.auth.organisation
        # Ours beside Knora's fields; left out, a new integration is manual only and a finalised grant keeps its own.
        schedule = {key: data[key] for key in SCHEDULE_FIELDS if key in data}
        if data.get("pending_integration_id"):
            # 201 for a re-authorisation too (Knora's POST / answers 201); the body is the integration updated.
            integration = services.integration_finalize_pending(
                organisation=organisation,
                user=request.user,
                pending_id=data["pending_integration_id"],
                type=data["type"],
                name=data["name"],
                config=data["config"],
                **schedule,
            )
            shown_once = {}
        else:
            integration, shown_once = services.integration_create(
                organisation=organisation,
                user=request.user,
                type=data["type"],
                name=data["name"],
                config=data["config"],
                **schedule,
            )
        # Knora's fields, plus a webhook's signing secret and URL, shown this once.
        body = {**IntegrationOutput(integration).data, **shown_once}
        return Response(body, status=status.HTTP_201_CREATED)


class IntegrationDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(request=IntegrationUpdateInput, responses={200: IntegrationOutput, **errors(502)}, tags=TAGS)
    def patch(self, request: Request, integration_id) -> Response:
        integration = _integration(request, integration_id)
        body = IntegrationUpdateInput(data=request.data)
        body.is_valid(raise_exception=True)
        integration = services.integration_update(integration=integration, **body.validated_data)
        return Response(IntegrationOutput(integration).data)

    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, integration_id) -> Response:
        services.integration_delete(integration=_integration(request, integration_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class IntegrationHealthApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(responses={200: HealthOutput}, tags=TAGS)
    def get(self, request: Request, integration_id) -> Response:
        body = services.integration_health(integration=_integration(request, integration_id))
        return Response(HealthOutput(body).data)


class IntegrationConnectionHealthApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(responses={200: HealthOutput, **errors(400)}, tags=TAGS)
    def get(self, request: Request, integration_id) -> Response:
        body = services.integration_probe(integration=_integration(request, integration_id))
        return Response(HealthOutput(body).data)


class IntegrationPreviewApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(responses={200: PreviewOutput, **errors(400, 502)}, tags=TAGS)
    def get(self, request: Request, integration_id) -> Response:
        body = services.integration_preview(integration=_integration(request, integration_id))
        return Response(PreviewOutput(body).data)


class IntegrationSyncApi(APIView):
    permission_classes = [IsAdmin, SubscriptionActive]

    @extend_schema(request=None, responses={202: SyncStartedOutput, **errors(503)}, tags=TAGS)
    def post(self, request: Request, integration_id) -> Response:
        integration = _integration(request, integration_id)
        job, started = engine.sync_job_request(
            organisation=request.auth.organisation, integration=integration, user=request.user
        )
        message = "Sync triggered successfully." if started else "A sync is already running for this integration."
        body = {
            "sync_job_id": job.id,
            "integration_id": integration.id,
            "status": "running",
            "message": message,
        }
        return Response(SyncStartedOutput(body).data, status=status.HTTP_202_ACCEPTED)


class IntegrationSyncCancelApi(APIView):
    """Ours beside Knora's API: cancel the integration's running (or pending) sync."""

    permission_classes = [IsAdmin]

    @extend_schema(request=None, responses={202: SyncStartedOutput, **errors(404)}, tags=TAGS)
    def post(self, request: Request, integration_id) -> Response:
        integration = _integration(request, integration_id)
        job = jobs.job_cancel(
            integration_id=integration.id,
            organisation_id=request.auth.organisation.id,
            cancelled_by=request.user.email,
        )
        if job is None:
            raise ApiError(ErrorCode.NOT_FOUND, "No sync is running for this integration.")
        body = {
            "sync_job_id": job.id,
            "integration_id": integration.id,
            "status": job.status,
            "message": job.error_message,
        }
        return Response(SyncStartedOutput(body).data, status=status.HTTP_202_ACCEPTED)


class IntegrationHistoryApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(responses={200: SyncJobListOutput}, tags=TAGS)
    def get(self, request: Request, integration_id) -> Response:
        integration = _integration(request, integration_id)
        jobs = selectors.job_list(organisation=request.auth.organisation, integration=integration)
        data = SyncJobOutput(jobs, many=True).data
        return Response({"integration_id": str(integration.id), "jobs": data, "total": len(data)})


class IntegrationJobDetailApi(APIView):
    permission_classes = [IsManager]

    @extend_schema(responses={200: SyncJobDetailOutput}, tags=TAGS)
    def get(self, request: Request, integration_id, job_id) -> Response:
        integration = _integration(request, integration_id)
        job = selectors.job_get(organisation=request.auth.organisation, integration=integration, job_id=job_id)
        return Response(SyncJobDetailOutput(job).data)


@extend_schema(exclude=True)
class IntegrationListCreateNoSlashApi(IntegrationListCreateApi):
    """The base path without its trailing slash; same behaviour, one entry in the schema."""
