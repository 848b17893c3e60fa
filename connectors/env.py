"""A connector's own settings, declared in its folder with their environment names and defaults.

Read at call time: a Django setting of the same name wins (a site's settings module, a test's
override), else the environment through django-environ, else the declared default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import environ
from django.conf import settings

Cast = Literal["str", "int", "float", "bool", "list"]
_env = environ.Env()


@dataclass(frozen=True)
class ConnectorSetting:
    """One setting: `name` is its environment variable (and Django setting) name."""

    name: str
    default: Any
    cast: Cast = "str"
    help_text: str = ""

    def get(self) -> Any:
        if hasattr(settings, self.name):
            return getattr(settings, self.name)
        default = list(self.default) if isinstance(self.default, tuple | list) else self.default
        return getattr(_env, self.cast)(self.name, default=default)
