"""Test settings: the production settings, with their own broker folder and queue and fast hashing."""

import os

from hub.settings import *  # noqa: F403
from hub.settings import env

ALLOW_PRIVATE_UPSTREAMS = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Each test run has its own queue, so neither a `make run` worker nor another run's worker on the
# same broker can take its tasks. The worker started by the tests gets this name passed in.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default=f"tributary-test-{os.getpid()}")
# A small pull connector over a fake upstream, to test sync jobs end to end in a real worker.
EXTRA_CONNECTORS = ["tests.fakes.notes.NotesConnector"]
# No manifest to build before each run: static files keep their names (the console's test server
# collects them first and serves them through WhiteNoise).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
