"""Input and output serializers of the Integrations API; outputs list Knora's fields exactly."""

from __future__ import annotations

from rest_framework import serializers

from hub.schema import ListOutput
from integrations.services import MAX_SYNC_INTERVAL_MINUTES
from integrations.sources import destination_sources_shown


class IntegrationOutput(serializers.Serializer):
    id = serializers.UUIDField()
    org_id = serializers.UUIDField(source="organisation_id")
    type = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    last_sync_at = serializers.DateTimeField(allow_null=True)
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    # Ours, beside Knora's fields: the schedule, and a destination's sources.
    sync_interval_minutes = serializers.IntegerField(allow_null=True)
    run_after_sources = serializers.BooleanField()
    sources = serializers.SerializerMethodField(
        help_text="A destination's sources that still exist ([]: every source); null for a source (ours)."
    )

    def get_sources(self, integration) -> list[str] | None:
        return destination_sources_shown(integration)


class IntegrationCreatedOutput(IntegrationOutput):
    """The 201 body; a webhook integration also shows its signing secret and URL, this once."""

    signing_secret = serializers.CharField(required=False)
    webhook_url = serializers.URLField(required=False)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: DRF's IntegerField also takes "5", 5.0 and true, which a schedule never means."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean only: DRF's BooleanField also takes "yes", 1 and "on"."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def _sync_interval_field(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(
        min_value=1,
        max_value=MAX_SYNC_INTERVAL_MINUTES,
        allow_null=True,
        help_text="Start a run every this many minutes (ours, beside Knora's fields); null: manual only.",
        **kwargs,
    )


def _run_after_sources_field(**kwargs) -> StrictBooleanField:
    return StrictBooleanField(
        help_text="A destination only: run after each successful sync of one of its sources (ours).", **kwargs
    )


class IntegrationCreateInput(serializers.Serializer):
    type = serializers.CharField(max_length=50)
    name = serializers.CharField(min_length=1, max_length=255)
    config = serializers.DictField(required=False, default=dict)
    pending_integration_id = serializers.UUIDField(required=False, allow_null=True)
    sync_interval_minutes = _sync_interval_field(required=False)
    run_after_sources = _run_after_sources_field(required=False)


class IntegrationUpdateInput(serializers.Serializer):
    name = serializers.CharField(min_length=1, max_length=255, required=False)
    config = serializers.DictField(required=False)
    sync_interval_minutes = _sync_interval_field(required=False)
    run_after_sources = _run_after_sources_field(required=False)
    sources = serializers.ListField(
        child=serializers.UUIDField(format="hex_verbose"),
        required=False,
        max_length=500,
        help_text="A destination only: replace config.sources alone ([]: every source) (ours).",
    )


class ConfigFieldOutput(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField()
    required = serializers.BooleanField()
    placeholder = serializers.CharField()
    help_text = serializers.CharField()
    default = serializers.JSONField(allow_null=True)
    options = serializers.ListField(child=serializers.DictField())


class ConnectorOutput(serializers.Serializer):
    type = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    icon = serializers.CharField()
    data_description = serializers.CharField()
    auth_type = serializers.CharField()
    auth_flow = serializers.CharField()
    provider = serializers.CharField(allow_null=True)
    config_schema = ConfigFieldOutput(many=True)
    direction = serializers.CharField()


class HealthOutput(serializers.Serializer):
    integration_id = serializers.UUIDField()
    status = serializers.CharField()
    healthy = serializers.BooleanField()
    message = serializers.CharField()
    checked_at = serializers.DateTimeField()


class PreviewItemOutput(serializers.Serializer):
    label = serializers.CharField()
    count = serializers.IntegerField(allow_null=True)


class PreviewOutput(serializers.Serializer):
    integration_id = serializers.UUIDField()
    connector_type = serializers.CharField()
    summary = serializers.CharField()
    items = PreviewItemOutput(many=True)
    estimated_entries = serializers.IntegerField(allow_null=True)
    previewed_at = serializers.DateTimeField()


class SyncStartedOutput(serializers.Serializer):
    sync_job_id = serializers.UUIDField()
    integration_id = serializers.UUIDField()
    status = serializers.CharField()
    message = serializers.CharField()


class SyncJobOutput(serializers.Serializer):
    id = serializers.UUIDField()
    integration_id = serializers.UUIDField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    records_synced = serializers.IntegerField(allow_null=True)
    records_found = serializers.IntegerField(allow_null=True)
    records_imported = serializers.IntegerField(allow_null=True)
    records_skipped = serializers.IntegerField(allow_null=True)
    threads_grouped = serializers.IntegerField(allow_null=True)
    entries_created = serializers.IntegerField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)
    # Ours, beside Knora's fields: live figures while the job runs.
    progress = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SyncJobDetailOutput(SyncJobOutput):
    log = serializers.JSONField()


# The list answers are objects around their items (Knora's shapes), so the schema says so.
class ConnectorListOutput(ListOutput):
    connectors = ConnectorOutput(many=True)
    total = serializers.IntegerField()


class IntegrationListOutput(ListOutput):
    integrations = IntegrationOutput(many=True)
    total = serializers.IntegerField()


class SyncJobListOutput(ListOutput):
    integration_id = serializers.UUIDField()
    jobs = SyncJobOutput(many=True)
    total = serializers.IntegerField()


class ActionFieldOutput(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    type = serializers.CharField()
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True)
    options = serializers.ListField(child=serializers.DictField())
    minimum = serializers.IntegerField(allow_null=True)
    maximum = serializers.IntegerField(allow_null=True)


class ActionOutput(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.ChoiceField(choices=["read", "write"])
    required_role = serializers.ChoiceField(choices=["manager", "admin"])
    fields = ActionFieldOutput(many=True)


class ActionListOutput(ListOutput):
    integration_id = serializers.UUIDField()
    actions = ActionOutput(many=True)
    total = serializers.IntegerField()


class ActionRunOutput(serializers.Serializer):
    action = serializers.CharField()
    integration_id = serializers.UUIDField()
    result = serializers.JSONField(help_text="The action's own answer, as the seed describes it.")
