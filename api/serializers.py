"""Input and output serializers. No domain rules here: those live in services and the policy."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from cases.identity_code import validate_identity_code
from cases.models import (
    Area,
    Case,
    Family,
    FamilyMember,
    Handover,
    Municipality,
    Organisation,
    OrganisationMembership,
    Service,
    User,
)


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
    area = AreaRefSerializer(read_only=True)
    municipality = MunicipalityRefSerializer(read_only=True)

    class Meta:
        model = Organisation
        fields = ["id", "code", "name", "kind", "area", "municipality", "phone", "email"]


class ServiceSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)
    municipalities = MunicipalityRefSerializer(many=True, read_only=True)

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
        ]


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
    families = FamilyRoleSerializer(many=True, read_only=True, source="family_memberships")

    class Meta:
        model = User
        fields = ["id", "username", "name", "email", "memberships", "families"]

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class FamilyMemberSerializer(serializers.ModelSerializer):
    identity_code = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=11,
        validators=[validate_identity_code],
        help_text=_("Personal identity code; stored encrypted and never returned."),
    )
    has_identity_code = serializers.SerializerMethodField()

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
        ]

    def get_has_identity_code(self, member) -> bool:
        return bool(member.identity_code_index)


class FamilySerializer(serializers.ModelSerializer):
    municipality = MunicipalityRefSerializer(read_only=True)
    recorded_by = OrganisationRefSerializer(read_only=True)
    members = FamilyMemberSerializer(many=True, read_only=True)

    class Meta:
        model = Family
        fields = ["id", "name", "municipality", "joint_custody", "recorded_by", "members", "created_at"]


class FamilyCreateSerializer(serializers.Serializer):
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
    opening_reason = serializers.CharField(required=False, allow_blank=True, default="")


class FamilyUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    municipality = serializers.PrimaryKeyRelatedField(
        queryset=Municipality.objects.all(), required=False
    )
    joint_custody = serializers.BooleanField(required=False)


class FamilyRefSerializer(serializers.ModelSerializer):
    municipality = MunicipalityRefSerializer(read_only=True)

    class Meta:
        model = Family
        fields = ["id", "name", "municipality"]


class CaseSerializer(serializers.ModelSerializer):
    family = FamilyRefSerializer(read_only=True)
    responsible_worker = UserRefSerializer(read_only=True)
    responsible_organisation = OrganisationRefSerializer(read_only=True)

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
        ]


class CaseCreateSerializer(serializers.Serializer):
    family = serializers.PrimaryKeyRelatedField(queryset=Family.objects.none())
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(), required=False, default=None
    )
    opening_reason = serializers.CharField(required=False, allow_blank=True, default="")

    def __init__(self, *args, families=None, **kwargs):
        super().__init__(*args, **kwargs)
        if families is not None:
            self.fields["family"].queryset = families


class CaseUpdateSerializer(serializers.Serializer):
    opening_reason = serializers.CharField(allow_blank=True)


class CaseCloseSerializer(serializers.Serializer):
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


class HandoverProposeSerializer(serializers.Serializer):
    to_worker = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    to_organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(), required=False, default=None
    )
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
