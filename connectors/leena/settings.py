"""The Leena connector's settings (environment names and defaults)."""

from connectors.env import ConnectorSetting

READ_TIMEOUT_SECONDS = ConnectorSetting(
    "LEENA_READ_TIMEOUT_SECONDS", 60.0, "float", help_text="Read timeout per request to Leena, in seconds."
)
TOKEN_MAX_ATTEMPTS = ConnectorSetting(
    "LEENA_TOKEN_MAX_ATTEMPTS",
    4,
    "int",
    help_text="Attempts per token request (retries of 429, 503 and connection errors).",
)

# None: the hub's UPSTREAM_REQUEST_DEADLINE_SECONDS and UPSTREAM_MAX_BODY_BYTES.
REQUEST_DEADLINE_SECONDS = ConnectorSetting(
    "LEENA_REQUEST_DEADLINE_SECONDS",
    None,
    "float",
    help_text="Overall deadline of each request to Leena (connect, headers, whole body), in seconds.",
)
MAX_BODY_BYTES = ConnectorSetting(
    "LEENA_MAX_BODY_BYTES", None, "int", help_text="The largest body read from Leena, in bytes."
)
