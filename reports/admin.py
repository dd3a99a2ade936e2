"""Admin of the reports: organisations' monthly figures (entered here or through the API).
Feedback is not in the admin: its answers are read only as suppressed shares."""

from django.contrib import admin

from reports.models import OrganisationFigure


@admin.register(OrganisationFigure)
class OrganisationFigureAdmin(admin.ModelAdmin):
    list_display = ["service", "organisation", "month", "participants", "sessions", "new_families"]
    list_filter = ["organisation__kind", "month"]
    raw_id_fields = ["entered_by"]
    readonly_fields = ["entered_at"]
