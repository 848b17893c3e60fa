"""App config for the hub: tenancy, auth, encryption and operations."""

from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "Tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from hub import schema  # noqa: F401  (registers the OpenAPI auth extension)
