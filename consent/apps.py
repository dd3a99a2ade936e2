from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = _("Consent")

    def ready(self):
        # Connects the receivers that keep guardian's table in step with memberships.
        from consent import receivers  # noqa: F401
