"""The admin where family-centre coordinators keep areas, organisations, services and accounts.

Families, family members, cases and handovers are deliberately not registered: every read of
family data must go through the policy and the access log, which the admin bypasses.
"""

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.db import models
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from cases import selectors
from cases.models import (
    Area,
    Municipality,
    Organisation,
    OrganisationMembership,
    Service,
    ServiceLanguage,
    User,
)

admin.site.site_header = _("Koordinointi: family-centre administration")
admin.site.site_title = _("Koordinointi")


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "municipality_count"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(municipality_count=Count("municipalities"))

    @admin.display(description=_("municipalities"), ordering="municipality_count")
    def municipality_count(self, area):
        return area.municipality_count


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["name", "name_sv", "code"]
    list_filter = ["areas"]
    filter_horizontal = ["areas"]
    search_fields = ["name", "name_sv", "code"]
    prepopulated_fields = {"code": ["name"]}


class MembershipInline(admin.TabularInline):
    model = OrganisationMembership
    fields = ["user", "role", "title", "is_active", "started_at", "ended_at"]
    autocomplete_fields = ["user"]
    extra = 0


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    # An issuer typed without a scheme means https (Django 6.0's default, asked for now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "kind", "area", "municipality", "service_count"]
    list_filter = ["kind", "area"]
    list_select_related = ["area", "municipality"]
    search_fields = ["name", "code", "email"]
    prepopulated_fields = {"code": ["name"]}
    autocomplete_fields = ["area", "municipality"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(service_count=Count("services"))

    @admin.display(description=_("services"), ordering="service_count")
    def service_count(self, organisation):
        return organisation.service_count


class ServiceAgeFilter(admin.SimpleListFilter):
    """The API's `age` filter: services for a child of this age."""

    title = _("child's age")
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [(str(age), str(age)) for age in range(18)]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return selectors.service_by_age(queryset, int(value))


class ServiceLanguageInline(admin.TabularInline):
    model = ServiceLanguage
    extra = 0


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = [
        "name_fi",
        "organisation",
        "category",
        "min_age",
        "max_age",
        "low_threshold",
        "is_active",
    ]
    # The API's filters (api/filters.py, ServiceFilter), so that the admin and the public
    # catalogue find the same services.
    list_filter = [
        "category",
        "organisation",
        "low_threshold",
        "is_active",
        ("languages__language", admin.ChoicesFieldListFilter),
        ServiceAgeFilter,
        "municipalities",
    ]
    list_select_related = ["organisation"]
    search_fields = ["name_fi", "name_sv", "name_en", "description", "organisation__name"]
    autocomplete_fields = ["organisation"]
    filter_horizontal = ["municipalities"]
    inlines = [ServiceLanguageInline]
    fieldsets = [
        (None, {"fields": ["organisation", "category", "is_active"]}),
        (_("Name and description"), {"fields": ["name_fi", "name_sv", "name_en", "description"]}),
        (
            _("Who it is for"),
            {"fields": ["min_age", "max_age", "low_threshold", "municipalities", "contact"]},
        ),
    ]

    def get_search_results(self, request, queryset, search_term):
        # The public catalogue's search (cases/selectors.py), not the admin's own.
        return selectors.service_catalogue_search(queryset, search_term), False


class UserCreationForm(auth_forms.AdminUserCreationForm):
    # The stubs do not declare the form's Meta.
    class Meta(auth_forms.AdminUserCreationForm.Meta):  # type: ignore[name-defined]
        model = User


class UserChangeForm(auth_forms.UserChangeForm):
    # The stubs do not declare the form's Meta.
    class Meta(auth_forms.UserChangeForm.Meta):  # type: ignore[name-defined]
        model = User


class UserMembershipInline(MembershipInline):
    fields = ["organisation", "role", "title", "is_active", "started_at", "ended_at"]
    autocomplete_fields = ["organisation"]


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    """Worker accounts. Who may administer is for superusers alone to decide."""

    form = UserChangeForm
    add_form = UserCreationForm
    inlines = [UserMembershipInline]
    list_display = ["username", "first_name", "last_name", "email", "is_active", "is_staff"]
    list_filter = ["is_active", "is_staff", "memberships__role", "memberships__organisation"]

    # Without these a coordinator could make any account, their own included, a superuser.
    SUPERUSER_ONLY_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += self.SUPERUSER_ONLY_FIELDS
        return readonly

    def has_change_permission(self, request, obj=None):
        # A coordinator must not take over a superuser by changing their password or details.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)
