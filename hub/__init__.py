"""Tributary's Django project: settings, Celery app, tenancy, auth and the error envelope."""

from hub.celery import app as celery_app

__all__ = ["celery_app"]
