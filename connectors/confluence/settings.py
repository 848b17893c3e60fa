"""The Confluence connector's settings: Atlassian's hosts (tests point them at fakes) and the OAuth app."""

from connectors.env import ConnectorSetting

AUTH_URL = ConnectorSetting(
    "ATLASSIAN_AUTH_URL", "https://auth.atlassian.com", help_text="`/authorize` and `/oauth/token`."
)
API_URL = ConnectorSetting(
    "ATLASSIAN_API_URL", "https://api.atlassian.com", help_text="accessible-resources and the 3LO API gateway."
)
# Empty means the OAuth app is not configured: /oauth/start answers 500 OAUTH_CONFIG_ERROR.
CLIENT_ID = ConnectorSetting("ATLASSIAN_CLIENT_ID", "")
CLIENT_SECRET = ConnectorSetting("ATLASSIAN_CLIENT_SECRET", "")
SCOPES = ConnectorSetting(
    "ATLASSIAN_SCOPES",
    (
        "read:space:confluence", "read:page:confluence", "write:page:confluence", "delete:page:confluence",
        "offline_access",
    ),
    "list",
    help_text="Comma-separated; what the six actions and the sync need.",
)  # fmt: skip

# None: the hub's UPSTREAM_REQUEST_DEADLINE_SECONDS and UPSTREAM_MAX_BODY_BYTES.
REQUEST_DEADLINE_SECONDS = ConnectorSetting(
    "CONFLUENCE_REQUEST_DEADLINE_SECONDS",
    None,
    "float",
    help_text="Overall deadline of each request to Confluence (connect, headers, whole body), in seconds.",
)
MAX_BODY_BYTES = ConnectorSetting(
    "CONFLUENCE_MAX_BODY_BYTES", None, "int", help_text="The largest body read from Confluence, in bytes."
)
