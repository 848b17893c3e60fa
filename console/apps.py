"""The web console: server-rendered pages whose JavaScript calls the public REST API."""

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Web console"
