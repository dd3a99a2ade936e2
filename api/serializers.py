"""Input and output serializers. No domain rules here: those live in services and the policy."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, cast

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from api.audit import disclosure_of
from cases.identity_code import validate_identity_code_or_temporary
from cases.models import (
    PROTECTED_FAMILY_FIELDS,
    PROTECTED_MEMBER_FIELDS,
    Area,
    Case,
    Contact,
    Family,
    FamilyMember,
    Handover,
    Invitation,
    Location,
    Municipality,
    NetworkMember,
    Note,
    Organisation,
    OrganisationMembership,
    Phone,
    Plan,
    Schedule,
    Service,
    ServiceAtLocation,
    ServiceLanguage,
    TaxonomyTerm,
    User,
)
from consent import policy
from koordinointi.vocabulary import PROTECTED, Category

if TYPE_CHECKING:  # what the mixin is mixed into, for mypy
    _SerializerBase = serializers.Serializer
else:
    _SerializerBase = object


class RejectUnknownFieldsMixin(_SerializerBase):
    """Input serializers answer 400 for a key they do not take (unknown or read-only), instead of
    dropping it silently: a misspelt field must not look like a successful write."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(key)[:100] for key in data if key not in writable)
            if unknown:
                raise serializers.ValidationError(
                    {key: [_("Unknown field: this request does not take it.")] for key in unknown}
                )
        return super().to_internal_value(data)


class InputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """Base of every input serializer (see RejectUnknownFieldsMixin)."""


class UserRefSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "name"]

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class WorkerSerializer(UserRefSerializer):
    class Meta(UserRefSerializer.Meta):
        fields = ["id", "username", "name"]


class AreaRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Area
        fields = ["id", "code", "name"]


class MunicipalityRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Municipality
        fields = ["id", "code", "name"]


class OrganisationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["id", "name"]


class OrganisationSerializer(serializers.ModelSerializer):
    area = AreaRefSerializer(read_only=True, allow_null=True)
    municipality = MunicipalityRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Organisation
        fields = ["id", "code", "name", "kind", "area", "municipality", "phone", "email"]


# --- The catalogue's entries as the API shows them (issue 17) ---


class TaxonomyTermRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaxonomyTerm
        fields = ["id", "code", "taxonomy", "name_fi", "name_sv", "name_en"]


class ScheduleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Schedule
        fields = ["id", "freq", "byday", "opens_at", "closes_at", "valid_from", "valid_to"]
        fields += ["description"]


class PhoneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Phone
        fields = ["id", "number", "extension", "type", "description"]


class ContactSerializer(serializers.ModelSerializer):
    phones = PhoneSerializer(many=True, read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "name", "title", "department", "email", "phones"]


class LocationSerializer(serializers.ModelSerializer):
    municipality = MunicipalityRefSerializer(read_only=True, allow_null=True)
    schedules = ScheduleSerializer(many=True, read_only=True)
    phones = PhoneSerializer(many=True, read_only=True)

    class Meta:
        model = Location
        fields = [
            "id",
            "location_type",
            "is_meeting_place",
            "name_fi",
            "name_sv",
            "name_en",
            "description",
            "transportation",
            "accessibility",
            "url",
            "address",
            "postal_code",
            "city",
            "municipality",
            "latitude",
            "longitude",
            "schedules",
            "phones",
        ]


class ServiceLocationSerializer(serializers.ModelSerializer):
    """Where a service is given: the location, and the opening hours of the service there."""

    location = LocationSerializer(read_only=True)
    schedules = ScheduleSerializer(many=True, read_only=True)

    class Meta:
        model = ServiceAtLocation
        fields = ["id", "description", "location", "schedules"]


class ServiceSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)
    municipalities = MunicipalityRefSerializer(many=True, read_only=True)
    languages: "serializers.SlugRelatedField[ServiceLanguage]" = serializers.SlugRelatedField(
        many=True,
        read_only=True,
        slug_field="language",
        help_text=_("Languages the service is offered in."),
    )
    status = serializers.SerializerMethodField(
        help_text=_("As HSDS 3.0 says it: active, inactive or temporarily closed.")
    )
    taxonomy_terms = TaxonomyTermRefSerializer(many=True, read_only=True)
    locations = ServiceLocationSerializer(source="at_locations", many=True, read_only=True)
    schedules = ScheduleSerializer(many=True, read_only=True)
    contacts = ContactSerializer(many=True, read_only=True)
    phones = PhoneSerializer(many=True, read_only=True)

    class Meta:
        model = Service
        fields = [
            "id",
            "name_fi",
            "name_sv",
            "name_en",
            "description",
            "category",
            "min_age",
            "max_age",
            "low_threshold",
            "contact",
            "organisation",
            "municipalities",
            "languages",
            "status",
            "alert",
            "url",
            "email",
            "eligibility_description",
            "application_process",
            "fees_description",
            "taxonomy_terms",
            "locations",
            "schedules",
            "contacts",
            "phones",
            "updated_at",
        ]

    def get_status(self, service) -> Literal["active", "inactive", "temporarily closed"]:
        return service.hsds_status


class ServiceRefSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)

    class Meta:
        model = Service
        fields = ["id", "name_fi", "name_sv", "name_en", "organisation"]


class MembershipSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)

    class Meta:
        model = OrganisationMembership
        fields = ["organisation", "role", "title"]


class FamilyRoleSerializer(serializers.ModelSerializer):
    family = serializers.UUIDField(source="family_id", read_only=True)

    class Meta:
        model = FamilyMember
        fields = ["family", "role"]


class MeSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    memberships = MembershipSerializer(many=True, read_only=True, source="active_memberships")
    families = FamilyRoleSerializer(many=True, read_only=True, source="family_roles")

    class Meta:
        model = User
        fields = ["id", "username", "name", "email", "memberships", "families"]

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class FamilyMemberSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    identity_code = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=11,
        validators=[validate_identity_code_or_temporary],
        help_text=_("Personal identity code; stored encrypted and never returned."),
    )
    has_identity_code = serializers.SerializerMethodField()
    identity_code_temporary = serializers.SerializerMethodField(
        help_text=_(
            "The code is a temporary one (individual number 900-999), to be replaced by the "
            "permanent code."
        )
    )

    class Meta:
        model = FamilyMember
        fields = [
            "id",
            "role",
            "first_name",
            "last_name",
            "birth_date",
            "identity_code",
            "has_identity_code",
            "identity_code_temporary",
            "address",
            "contact",
            "school",
        ]
        extra_kwargs = {
            name: {"help_text": _("Left out under a non-disclosure marking you may not see.")}
            for name in PROTECTED_MEMBER_FIELDS
        }

    def get_has_identity_code(self, member) -> bool:
        return bool(member.identity_code_index)

    def get_identity_code_temporary(self, member) -> bool:
        return member.identity_code_temporary


class GatedSerializer(serializers.ModelSerializer):
    """Leaves out the fields of data categories the user may not read (absent, not null).

    The view puts {object id: Access} into the context as "access"; `gated_fields` maps each
    gated field to its data category.
    """

    gated_fields: dict = {}

    def access_key(self, instance):
        return instance.pk

    def case_key(self, instance):
        """The case whose data `instance` is (for the access log)."""
        return self.access_key(instance)

    def source_of(self, instance, category: str):
        """The organisation that recorded the `category` data of `instance`."""
        return None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        access = self.context.get("access", {}).get(self.access_key(instance))
        disclosure = disclosure_of(self.context)
        for name, category in self.gated_fields.items():
            if access is None or not access.can_read(category):
                data.pop(name, None)
            elif data.get(name) not in (None, "", [], {}):
                disclosure.add(
                    self.case_key(instance), category, self.source_of(instance, category)
                )
        if access is not None and access.protected:
            if self.protect(data, hide=policy.hides_protected(access)):
                disclosure.add(
                    self.case_key(instance), PROTECTED, self.source_of(instance, Category.BASIC)
                )
        return data

    def protect(self, data: dict, *, hide: bool) -> bool:
        """Under a non-disclosure marking: leave out where the family is when `hide`; answer
        whether any of it is shown (then the read is flagged in the access log)."""
        return False


def protect_family(family: dict | None, *, hide: bool) -> bool:
    """The family's municipality and its members' addresses, contact details and schools:
    left out when `hide`; True when any of them is shown."""
    if not isinstance(family, dict):
        return False
    shown = False
    places: list[tuple[dict, tuple[str, ...]]] = [(family, PROTECTED_FAMILY_FIELDS)]
    places += [(member, PROTECTED_MEMBER_FIELDS) for member in family.get("members") or []]
    for place, names in places:
        for name in names:
            if name not in place:
                continue
            if hide:
                place.pop(name)
            elif place[name] not in (None, ""):
                shown = True
    return shown


class FamilySerializer(GatedSerializer):
    municipality = MunicipalityRefSerializer(read_only=True)
    recorded_by = OrganisationRefSerializer(read_only=True)
    members = FamilyMemberSerializer(many=True, read_only=True)
    gated_fields = {
        "name": "basic",
        "municipality": "basic",
        "joint_custody": "basic",
        "members": "basic",
    }

    non_disclosure = serializers.SerializerMethodField(
        help_text=_(
            "A non-disclosure marking is in force: where the family is shows only to the "
            "responsible worker and the members they name."
        )
    )

    def source_of(self, instance, category):
        return instance.recorded_by_id

    def protect(self, data, *, hide):
        return protect_family(data, hide=hide)

    def get_non_disclosure(self, family) -> bool:
        access = self.context.get("access", {}).get(family.pk)
        return bool(access and access.protected)

    class Meta:
        model = Family
        fields = [
            "id",
            "name",
            "municipality",
            "joint_custody",
            "recorded_by",
            "members",
            "non_disclosure",
            "created_at",
        ]


class FamilyCreateSerializer(InputSerializer):
    name = serializers.CharField(max_length=200)
    municipality = serializers.PrimaryKeyRelatedField(queryset=Municipality.objects.all())
    joint_custody = serializers.BooleanField(default=False)
    members = FamilyMemberSerializer(many=True, required=False, default=list)
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(),
        required=False,
        default=None,
        help_text=_("The organisation you act for; needed only if you work for several."),
    )
    opening_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=4000
    )


class FamilyUpdateSerializer(InputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    municipality = serializers.PrimaryKeyRelatedField(
        queryset=Municipality.objects.all(), required=False
    )
    joint_custody = serializers.BooleanField(required=False)


class FamilyLookupSerializer(InputSerializer):
    identity_code = serializers.CharField(
        max_length=11,
        validators=[validate_identity_code_or_temporary],
        help_text=_("A family member's personal identity code (in the body, never in a URL)."),
    )


class ProtectedFieldsMixin:
    """A serializer whose `protected_fields` a non-disclosure marking may leave out (see
    `protect_family`): the schema does not call them required."""

    protected_fields: tuple = ()


class FamilyRefSerializer(ProtectedFieldsMixin, serializers.ModelSerializer):
    municipality = MunicipalityRefSerializer(read_only=True)
    protected_fields = PROTECTED_FAMILY_FIELDS

    class Meta:
        model = Family
        fields = ["id", "name", "municipality"]


class CaseSerializer(GatedSerializer):
    family = FamilyRefSerializer(read_only=True)
    responsible_worker = UserRefSerializer(read_only=True, allow_null=True)
    responsible_organisation = OrganisationRefSerializer(read_only=True, allow_null=True)
    categories = serializers.SerializerMethodField(
        help_text=_("The data categories of this case that you may read.")
    )
    non_disclosure = serializers.SerializerMethodField(
        help_text=_(
            "A non-disclosure marking is in force: where the family is shows only to the "
            "responsible worker and the members they name."
        )
    )
    gated_fields = {"family": "basic", "opening_reason": "basic"}

    def source_of(self, instance, category):
        return instance.family.recorded_by_id

    def protect(self, data, *, hide):
        return protect_family(data.get("family"), hide=hide)

    def get_non_disclosure(self, case) -> bool:
        access = self.context.get("access", {}).get(case.pk)
        return bool(access and access.protected)

    class Meta:
        model = Case
        fields = [
            "id",
            "status",
            "family",
            "responsible_worker",
            "responsible_organisation",
            "opening_reason",
            "opened_at",
            "closed_at",
            "closing_reason",
            "categories",
            "non_disclosure",
        ]

    def get_categories(self, case) -> list[str]:
        access = self.context["access"].get(case.pk)
        return sorted(access.categories) if access else []


class CaseCreateSerializer(InputSerializer):
    family = serializers.PrimaryKeyRelatedField(queryset=Family.objects.none())
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(), required=False, default=None
    )
    opening_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=4000
    )

    def __init__(self, *args, families=None, **kwargs):
        super().__init__(*args, **kwargs)
        if families is not None:
            cast(serializers.RelatedField, self.fields["family"]).queryset = families


class CaseUpdateSerializer(InputSerializer):
    opening_reason = serializers.CharField(allow_blank=True, max_length=4000)


class CaseCloseSerializer(InputSerializer):
    reason = serializers.CharField(max_length=2000)


class HandoverSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    from_worker = UserRefSerializer(read_only=True)
    to_worker = UserRefSerializer(read_only=True)
    to_organisation = OrganisationRefSerializer(read_only=True)

    class Meta:
        model = Handover
        fields = [
            "id",
            "case",
            "status",
            "from_worker",
            "to_worker",
            "to_organisation",
            "message",
            "proposed_at",
            "decided_at",
        ]


class HandoverProposeSerializer(InputSerializer):
    to_worker = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    to_organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(), required=False, default=None
    )
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class TokenRequestSerializer(InputSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        style={"input_type": "password"}, trim_whitespace=False, max_length=1024
    )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField(help_text="The token answers 401 from this moment on.")


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()


class NetworkMemberSerializer(GatedSerializer):
    """A member of a case's network. Their free-text role on the case (which may name a child)
    and a person close to the family's name and contact can name the family: `basic` data, as
    recorded by the case's responsible organisation (the view puts it in the context)."""

    user = UserRefSerializer(read_only=True, allow_null=True)
    organisation = OrganisationRefSerializer(read_only=True, allow_null=True)
    gated_fields = {"role": "basic", "name": "basic", "relationship": "basic", "contact": "basic"}

    def access_key(self, instance):
        return instance.case_id

    def source_of(self, instance, category):
        return self.context.get("recorded_by")

    class Meta:
        model = NetworkMember
        fields = [
            "id",
            "kind",
            "user",
            "organisation",
            "role",
            "name",
            "relationship",
            "contact",
            "added_at",
        ]


class NetworkMemberCreateSerializer(InputSerializer):
    kind = serializers.ChoiceField(choices=NetworkMember.Kind.choices)
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, default=None
    )
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(), required=False, default=None
    )
    role = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    relationship = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    contact = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")

    def validate(self, data):
        if data["kind"] == NetworkMember.Kind.PROFESSIONAL and data["user"] is None:
            raise serializers.ValidationError({"user": _("Name the worker to add.")})
        if data["kind"] == NetworkMember.Kind.INFORMAL and not data["name"]:
            raise serializers.ValidationError({"name": _("Give the person's name.")})
        return data


class InvitationSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)
    invited_user = UserRefSerializer(read_only=True, allow_null=True)
    invited_by = UserRefSerializer(read_only=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "case",
            "organisation",
            "invited_user",
            "email",
            "role",
            "message",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "decided_at",
        ]


class InvitationCreateSerializer(InputSerializer):
    organisation = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all())
    invited_user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, default=None
    )
    email = serializers.EmailField(required=False, allow_blank=True, default="", max_length=254)
    role = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class NoteSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    author = UserRefSerializer(read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)
    subject = serializers.UUIDField(source="subject_id", read_only=True, allow_null=True)

    class Meta:
        model = Note
        fields = [
            "id",
            "case",
            "category",
            "author",
            "organisation",
            "subject",
            "text",
            "protected",
            "created_at",
        ]

    def to_representation(self, instance):
        # A note is its category's data, recorded by its author's organisation.
        disclosure_of(self.context).add(
            instance.case_id, instance.category, instance.organisation_id
        )
        return super().to_representation(instance)


class NoteCreateSerializer(InputSerializer):
    category = serializers.ChoiceField(choices=Category.choices)
    text = serializers.CharField(max_length=20000)
    protected = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "Under a non-disclosure marking, only the responsible worker and the members they "
            "name see this note."
        ),
    )
    subject = serializers.PrimaryKeyRelatedField(
        queryset=FamilyMember.objects.all(), required=False, default=None
    )


class PlanSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    updated_by = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Plan
        fields = ["case", "needs", "family_view", "goals", "updated_at", "updated_by"]
        read_only_fields = ["updated_at"]


class PlanUpdateSerializer(InputSerializer):
    needs = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    family_view = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    goals = serializers.CharField(required=False, allow_blank=True, max_length=20000)
