"""The LeanIX connector's settings (environment names and defaults)."""

from connectors.env import ConnectorSetting

RUN_TIMEOUT_SECONDS = ConnectorSetting(
    "LEANIX_RUN_TIMEOUT_SECONDS",
    1800.0,
    "float",
    help_text="How long a synchronisation run may take before it is stopped and the job fails, in seconds.",
)
POLL_FIRST_SECONDS = ConnectorSetting(
    "LEANIX_POLL_FIRST_SECONDS", 0.5, "float", help_text="The first wait between two status polls of a run."
)
POLL_MAX_SECONDS = ConnectorSetting(
    "LEANIX_POLL_MAX_SECONDS", 15.0, "float", help_text="The longest wait between two status polls of a run."
)
READ_TIMEOUT_SECONDS = ConnectorSetting(
    "LEANIX_READ_TIMEOUT_SECONDS", 60.0, "float", help_text="Read timeout per request, in seconds."
)
MAX_ATTEMPTS = ConnectorSetting(
    "LEANIX_MAX_ATTEMPTS", 4, "int", help_text="Attempts per request (retries of 429, 5xx and timeouts)."
)

# None: the hub's UPSTREAM_REQUEST_DEADLINE_SECONDS and UPSTREAM_MAX_BODY_BYTES.
REQUEST_DEADLINE_SECONDS = ConnectorSetting(
    "LEANIX_REQUEST_DEADLINE_SECONDS",
    None,
    "float",
    help_text="Overall deadline of each request to LeanIX (connect, headers, whole body), in seconds.",
)
MAX_BODY_BYTES = ConnectorSetting(
    "LEANIX_MAX_BODY_BYTES", None, "int", help_text="The largest body read from LeanIX, in bytes."
)
