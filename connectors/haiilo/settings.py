"""The Haiilo connector's settings (environment names and defaults)."""

from connectors.env import ConnectorSetting

READ_TIMEOUT_SECONDS = ConnectorSetting(
    "HAIILO_READ_TIMEOUT_SECONDS", 30.0, "float", help_text="Read timeout per request, in seconds."
)
MAX_ATTEMPTS = ConnectorSetting(
    "HAIILO_MAX_ATTEMPTS", 4, "int", help_text="Attempts per request (retries of 429, 5xx and timeouts)."
)

# None: the hub's UPSTREAM_REQUEST_DEADLINE_SECONDS and UPSTREAM_MAX_BODY_BYTES.
REQUEST_DEADLINE_SECONDS = ConnectorSetting(
    "HAIILO_REQUEST_DEADLINE_SECONDS",
    None,
    "float",
    help_text="Overall deadline of each request to Haiilo (connect, headers, whole body), in seconds.",
)
MAX_BODY_BYTES = ConnectorSetting(
    "HAIILO_MAX_BODY_BYTES", None, "int", help_text="The largest body read from Haiilo, in bytes."
)
