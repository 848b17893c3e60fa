"""Test settings: the production settings, with their own broker folder and queue and fast hashing."""

import os
import secrets

from hub import local_secrets

# The tests, and the gunicorn and worker processes they start with these settings, run with DEBUG off
# and keep generated local keys; production (hub.settings with DEBUG off) refuses to.
local_secrets.allow_generation()

from hub.settings import *  # noqa: E402, F403
from hub.settings import CACHES, env  # noqa: E402

ALLOW_PRIVATE_UPSTREAMS = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Each test run has its own queue, so neither a `make run` worker nor another run's worker on the
# same broker can take its tasks. The worker started by the tests gets this name passed in.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default=f"tributary-test-{os.getpid()}")
# Its runs queue is named after it (a worker started with another default queue serves "<that>-runs");
# the tests' router reads the app's default queue when a task is sent, so tests that switch it move both.
RUNS_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-runs"
CELERY_TASK_ROUTES = ("tests.queue_routes.route_task",)
# A small pull connector over a fake upstream, to test sync jobs end to end in a real worker.
EXTRA_CONNECTORS = [
    "tests.fakes.notes.NotesConnector",
    "tests.fakes.shelf.ShelfDestination",
    "tests.fakes.shelf.ShelfTwoWay",
]
# No manifest to build before each run: static files keep their names (the console's test server
# collects them first and serves them through WhiteNoise).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
# Each run counts its own requests: a shared Redis holds no other run's throttle counters
# (tests/conftest.py also gives every test a prefix of its own under this one).
CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": f"tributary-test-{os.getpid()}-{secrets.token_hex(4)}"}}
