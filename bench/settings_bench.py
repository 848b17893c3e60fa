"""Bench settings: the production settings, persistent connections, and the bench-only URLconf."""

from hub.settings import *  # noqa: F403
from hub.settings import DATABASES, env

# The naive baseline view lives in the bench, never in the app.
ROOT_URLCONF = "bench.naive_urls"
# As a production deployment would run; the same for every target measured.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("BENCH_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
BENCH_NAIVE_SECRET = env("BENCH_NAIVE_SECRET", default="")
BENCH_ORG_ID = env("BENCH_ORG_ID", default="")
