"""WSGI entry point for gunicorn."""

import os
import sys

from django.core.wsgi import get_wsgi_application

from hub.local_secrets import MissingSecretError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
try:
    application = get_wsgi_application()
except MissingSecretError as exc:
    # One line instead of a traceback; exit status 3 is a boot error, on which gunicorn stops its master
    # rather than starting the worker again and again.
    sys.stderr.write(f"Tributary will not start: {exc}\n")
    raise SystemExit(3) from None
