"""Input and output serializers of the Integrations API; outputs list Knora's fields exactly."""

from __future__ import annotations

from rest_framework import serializers

from hub.schema import ListOutput


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


class IntegrationCreatedOutput(IntegrationOutput):
    """The 201 body; a webhook integration also shows its signing secret and URL, this once."""

    signing_secret = serializers.CharField(required=False)
    webhook_url = serializers.URLField(required=False)


class IntegrationCreateInput(serializers.Serializer):
    type = serializers.CharField(max_length=50)
    name = serializers.CharField(min_length=1, max_length=255)
    config = serializers.DictField(required=False, default=dict)
    pending_integration_id = serializers.UUIDField(required=False, allow_null=True)


class IntegrationUpdateInput(serializers.Serializer):
    name = serializers.CharField(min_length=1, max_length=255, required=False)
    config = serializers.DictField(required=False)


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
