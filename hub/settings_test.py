"""Test settings: the production settings, with their own broker folder and queue and fast hashing."""

from hub.settings import *  # noqa: F403
from hub.settings import env

ALLOW_PRIVATE_UPSTREAMS = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests never share a queue with a `make run` worker on the same broker.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="tributary-test")
# A small pull connector over a fake upstream, to test sync jobs end to end in a real worker.
EXTRA_CONNECTORS = ["tests.fakes.notes.NotesConnector"]
