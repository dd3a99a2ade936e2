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

from cases import catalogue, selectors
from cases.models import (
    Activity,
    Area,
    Contact,
    Location,
    Municipality,
    Organisation,
    OrganisationMembership,
    Phone,
    Schedule,
    Service,
    ServiceAtLocation,
    ServiceLanguage,
    TaxonomyTerm,
    User,
)
from consent import policy

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

    # The languages are part of the service: whoever keeps the service keeps them.
    def has_view_permission(self, request, obj=None):
        return _may_keep(request, obj)

    def has_add_permission(self, request, obj=None):
        return self.has_view_permission(request, obj)

    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission


def _kept(request):
    """The organisations whose entries the user keeps, asked once per request (the admin asks
    for every model of its menu)."""
    if not hasattr(request, "_catalogue_kept"):
        request._catalogue_kept = policy.catalogue_keeper_organisations(request.user)
    return request._catalogue_kept


def _may_keep(request, obj=None) -> bool:
    if obj is None:
        return policy.may_keep_catalogue_entries(request.user, organisations=_kept(request))
    return policy.may_keep_catalogue_entry(request.user, obj, organisations=_kept(request))


class CatalogueEntryAdmin(admin.ModelAdmin):
    """A kind of catalogue entry in the admin, kept as in the API (issue 17): an organisation's
    workers (staff accounts) see and change only their organisation's entries, coordinators
    everyone's; every decision is consent/policy.py's, every write cases/catalogue.py's."""

    def get_queryset(self, request):
        return policy.catalogue_entries_for_user(
            request.user, super().get_queryset(request), organisations=_kept(request)
        )

    def has_module_permission(self, request):
        return _may_keep(request)

    def has_view_permission(self, request, obj=None):
        return _may_keep(request, obj)

    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def has_add_permission(self, request):
        return _may_keep(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "organisation":
            kept = _kept(request)
            if kept is not None:
                kwargs["queryset"] = Organisation.objects.filter(pk__in=kept)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        catalogue.entry_save(actor=request.user, model=type(obj), data={}, entry=obj)

    def delete_model(self, request, obj):
        catalogue.entry_delete(actor=request.user, entry=obj)

    def delete_queryset(self, request, queryset):
        for entry in queryset:
            catalogue.entry_delete(actor=request.user, entry=entry)


@admin.register(Service)
class ServiceAdmin(CatalogueEntryAdmin):
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
    filter_horizontal = ["municipalities", "taxonomy_terms"]
    inlines = [ServiceLanguageInline]
    fieldsets = [
        (None, {"fields": ["organisation", "category", "is_active"]}),
        (_("Name and description"), {"fields": ["name_fi", "name_sv", "name_en", "description"]}),
        (
            _("Who it is for"),
            {"fields": ["min_age", "max_age", "low_threshold", "municipalities", "contact"]},
        ),
        (
            _("In the service guide"),
            {
                "fields": [
                    "url",
                    "email",
                    "eligibility_description",
                    "application_process",
                    "fees_description",
                    "temporarily_closed",
                    "alert",
                    "taxonomy_terms",
                ]
            },
        ),
    ]

    def get_search_results(self, request, queryset, search_term):
        # The public catalogue's search (cases/selectors.py), not the admin's own.
        return selectors.service_catalogue_search(queryset, search_term), False

    def has_delete_permission(self, request, obj=None):
        return False  # never deleted (referrals name it): `is_active` takes it out


@admin.register(Location)
class LocationAdmin(CatalogueEntryAdmin):
    list_display = ["name_fi", "organisation", "city", "is_meeting_place", "is_active"]
    list_filter = ["is_meeting_place", "is_active", "location_type"]
    list_select_related = ["organisation"]
    search_fields = ["name_fi", "name_sv", "name_en", "address", "city"]


@admin.register(ServiceAtLocation)
class ServiceAtLocationAdmin(CatalogueEntryAdmin):
    list_display = ["service", "location"]
    list_select_related = ["service", "location"]


@admin.register(Schedule)
class ScheduleAdmin(CatalogueEntryAdmin):
    list_display = ["__str__", "service", "location", "service_at_location"]
    list_select_related = ["service", "location"]


@admin.register(Contact)
class ContactAdmin(CatalogueEntryAdmin):
    list_display = ["name", "title", "organisation", "service", "location"]
    list_select_related = ["organisation", "service", "location"]


@admin.register(Phone)
class PhoneAdmin(CatalogueEntryAdmin):
    list_display = ["number", "type", "organisation", "service", "location", "contact"]
    list_select_related = ["organisation", "service", "location", "contact"]


@admin.register(Activity)
class ActivityAdmin(CatalogueEntryAdmin):
    list_display = ["name_fi", "organisation", "location", "starts_at", "is_cancelled"]
    list_filter = ["kind", "is_cancelled"]
    list_select_related = ["organisation", "location"]


@admin.register(TaxonomyTerm)
class TaxonomyTermAdmin(admin.ModelAdmin):
    """The taxonomy: coordinators alone keep it."""

    list_display = ["code", "name_fi", "taxonomy", "parent"]
    search_fields = ["code", "name_fi", "name_sv", "name_en"]

    def has_module_permission(self, request):
        if not hasattr(request, "_keeps_taxonomy"):
            request._keeps_taxonomy = policy.may_keep_taxonomy(request.user)
        return request._keeps_taxonomy

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def has_add_permission(self, request):
        return self.has_module_permission(request)


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
