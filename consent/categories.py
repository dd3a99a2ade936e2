"""Data categories a consent can cover; each note and each part of a case belongs to one."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    BASIC = "basic", _("Basic information")
    PLAN = "plan", _("Plan")
    NOTES_SOCIAL = "notes_social", _("Social care notes")
    NOTES_HEALTH = "notes_health", _("Health care notes")
    NOTES_EDUCATION = "notes_education", _("Education notes")
    NOTES_GENERAL = "notes_general", _("General notes")


def view_permission(category: str) -> str:
    """Codename of the per-case permission that lets a user read one data category."""
    return f"view_case_{category}"
