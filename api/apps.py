"""The API app: registers its OpenAPI schema extensions when Django starts."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"

    def ready(self):
        from api import schema  # noqa: F401  (registers the serializer extensions)
