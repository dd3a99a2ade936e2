"""Admin of the reports: organisations' monthly figures (entered here or through the API), each
organisation's by its own workers (the policy decides; a superuser sees all). Feedback is not in
the admin: its answers are read only as suppressed shares."""

from django.contrib import admin

from consent import policy
from reports.models import OrganisationFigure


@admin.register(OrganisationFigure)
class OrganisationFigureAdmin(admin.ModelAdmin):
    list_display = ["service", "organisation", "month", "participants", "sessions", "new_families"]
    list_filter = ["organisation__kind", "month"]
    raw_id_fields = ["entered_by"]
    readonly_fields = ["entered_at"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("service", "organisation")
        return queryset.filter(policy.figure_organisations_filter(request.user))

    def save_model(self, request, obj, form, change):
        policy.require_may_enter_figures(request.user, obj.organisation_id)
        obj.entered_by = request.user
        super().save_model(request, obj, form, change)
