"""Django admin for integrations; sealed config and tokens are never shown."""

from django.contrib import admin

from integrations.models import Integration


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = ("name", "type", "organisation", "status", "is_pending", "last_sync_at")
    list_filter = ("type", "status")
    search_fields = ("name", "organisation__name")
    exclude = ("config_sealed", "credentials_sealed")
    readonly_fields = ("created_by", "last_sync_at", "created_at", "updated_at")
