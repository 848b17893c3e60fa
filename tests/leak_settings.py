"""Settings of the hub and worker that tests/test_no_secret_leaks.py starts: the test settings with every
logger at DEBUG (httpx and httpcore included), and each task message they publish copied to a file."""

import json
import os

from celery.signals import before_task_publish

from hub.settings_test import *  # noqa: F403

# Production's defaults quieten httpx, httpcore and Django; here everything speaks, so a secret any of
# them would print at DEBUG reaches the log the test searches.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "DEBUG"},
    "loggers": {
        name: {"level": "DEBUG"}
        for name in ("httpx", "httpcore", "django", "celery", "kombu", "connectors", "integrations", "webhooks")
    },
}

TASK_CAPTURE_FILE = os.environ.get("LEAK_TEST_TASK_CAPTURE_FILE", "")


def _task_message_captured(*, body=None, exchange=None, routing_key=None, headers=None, properties=None, **_kw):
    """What goes to the broker (body, headers, properties), one JSON line per message. Connected here
    because the settings module is the one thing both the web process and the worker import first."""
    message = {"exchange": exchange, "routing_key": routing_key, "headers": headers, "properties": properties}
    with open(TASK_CAPTURE_FILE, "a", encoding="utf-8") as capture:
        capture.write(json.dumps({**message, "body": body}, default=repr) + "\n")


if TASK_CAPTURE_FILE:
    before_task_publish.connect(_task_message_captured, weak=False)
