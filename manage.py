#!/usr/bin/env python
"""Django's command-line utility for Tributary."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from hub.local_secrets import MissingSecretError

    try:
        settings.SECRET_KEY  # noqa: B018  (load the settings now: a missing production key is one clear line)
    except MissingSecretError as exc:
        sys.exit(f"Tributary will not start: {exc}")
    except (ImproperlyConfigured, ImportError):
        pass  # Django reports any other settings error its own way
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
