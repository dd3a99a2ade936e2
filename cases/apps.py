from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("Cases")

    def ready(self):
        # Connects the receivers that write notification mail (consent events, handovers).
        from cases import notifications  # noqa: F401
