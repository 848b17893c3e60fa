"""The Haiilo connector's settings (environment names and defaults)."""

from connectors.env import ConnectorSetting

READ_TIMEOUT_SECONDS = ConnectorSetting(
    "HAIILO_READ_TIMEOUT_SECONDS", 30.0, "float", help_text="Read timeout per request, in seconds."
)
MAX_ATTEMPTS = ConnectorSetting(
    "HAIILO_MAX_ATTEMPTS", 4, "int", help_text="Attempts per request (retries of 429, 5xx and timeouts)."
)
