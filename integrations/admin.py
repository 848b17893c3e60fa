"""Django admin for integrations; sealed config and tokens are never shown."""

from django.contrib import admin

from integrations.models import Integration, KnowledgeEntry, SyncJob, SyncJobSlice


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ("name", "type", "organisation", "status", "is_pending", "last_sync_at")
    list_filter = ("type", "status")
    search_fields = ("name", "organisation__name")
    exclude = ("config_sealed", "credentials_sealed")
    readonly_fields = ("created_by", "last_sync_at", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        # An integration never changes organisation: its sealed config and tokens are bound to it,
        # and its entries, jobs and webhook deliveries belong to the organisation that made them.
        if obj is not None:
            return (*self.readonly_fields, "organisation")
        return self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Only what the operator changed: a sync or OAuth refresh writing meanwhile keeps its columns.
        if form.changed_data:
            obj.save(update_fields=[*form.changed_data, "updated_at"])


class ReadOnlyAdmin(admin.ModelAdmin):
    """Operators inspect these; the sync pipeline is the only writer."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class SyncJobSliceInline(admin.TabularInline):
    """The slices of a run spread over workers (RUN_SLICE_TASKS): who runs each, and how far it got."""

    model = SyncJobSlice
    fields = ("name", "status", "claims", "worker", "heartbeat_at", "completed_at", "progress")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncJob)
class SyncJobAdmin(ReadOnlyAdmin):
    inlines = [SyncJobSliceInline]
    list_display = ("id", "integration", "status", "records_synced", "entries_created", "created_at")
    list_filter = ("status",)
    search_fields = ("integration__name", "organisation__name")


@admin.register(KnowledgeEntry)
class KnowledgeEntryAdmin(ReadOnlyAdmin):
    list_display = ("title", "integration", "organisation", "deleted_at", "updated_at")
    list_filter = ("integration__type",)
    search_fields = ("title", "external_id")
