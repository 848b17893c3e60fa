"""Settings of the `celery beat` process tests/integrations/test_schedule_worker.py starts: the test
settings with production's `start-due-runs` entry alone, ticking every second instead of every 30 s."""

from hub.settings_test import *  # noqa: F403
from hub.settings_test import CELERY_BEAT_SCHEDULE

CELERY_BEAT_SCHEDULE = {"start-due-runs": {**CELERY_BEAT_SCHEDULE["start-due-runs"], "schedule": 1.0}}
