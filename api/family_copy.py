"""API of the family's own copy (GDPR Art. 15 and 20): for a guardian, the same document that
the portal's download holds (cases.family_view, built from the portal's own pages)."""

from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.views import CaseScopedMixin
from audit.models import AccessEvent
from cases import family_view
from cases.models import User
from consent.policy import Need


class _Worker(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    organisation = serializers.CharField()
    email = serializers.CharField()
    changing = serializers.BooleanField()
    office_phone = serializers.CharField()
    office_email = serializers.CharField()


class _Case(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    responsible_worker = _Worker()


class _Member(serializers.Serializer):
    id = serializers.UUIDField()
    role = serializers.CharField()
    role_label = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    birth_date = serializers.DateField(allow_null=True)


class _Family(serializers.Serializer):
    name = serializers.CharField()
    municipality = serializers.CharField()
    members = _Member(many=True)


class _Action(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    due_date = serializers.DateField(allow_null=True)
    responsible = serializers.CharField()


class _Meeting(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    place = serializers.CharField()
    agenda = serializers.CharField()


class _Plan(serializers.Serializer):
    goals = serializers.CharField()
    needs = serializers.CharField()
    family_view = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True)
    actions = _Action(many=True)
    meetings = _Meeting(many=True)


class _Person(serializers.Serializer):
    name = serializers.CharField()
    organisation = serializers.CharField()
    role = serializers.CharField()


class _Close(serializers.Serializer):
    name = serializers.CharField()
    relationship = serializers.CharField()
    role = serializers.CharField()


class _Network(serializers.Serializer):
    professionals = _Person(many=True)
    close_to_family = _Close(many=True)
    invited = _Person(many=True)


class _Note(serializers.Serializer):
    id = serializers.UUIDField()
    category = serializers.CharField()
    category_label = serializers.CharField()
    organisation = serializers.CharField()
    author = serializers.CharField()
    about = serializers.CharField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class _Decision(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    by = serializers.CharField()
    at = serializers.DateTimeField()
    receipt = serializers.CharField(help_text=_("The signed receipt (compact JWS)."))


class _Consent(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField()
    state_label = serializers.CharField()
    recipients = serializers.ListField(child=serializers.CharField())
    categories = serializers.ListField(child=serializers.CharField())
    purpose = serializers.CharField()
    message = serializers.CharField()
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    requested_by = serializers.CharField()
    requested_at = serializers.DateTimeField()
    decisions = _Decision(many=True)


class _LegalBasis(serializers.Serializer):
    id = serializers.UUIDField()
    basis = serializers.CharField()
    basis_label = serializers.CharField()
    statute = serializers.CharField()
    organisation = serializers.CharField()
    categories = serializers.ListField(child=serializers.CharField())
    category_labels = serializers.ListField(child=serializers.CharField())
    reason = serializers.CharField()
    recorded_by = serializers.CharField()
    recorded_at = serializers.DateTimeField()
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    in_force = serializers.BooleanField()


class _ThreadMember(serializers.Serializer):
    name = serializers.CharField()
    organisation = serializers.CharField()


class _Message(serializers.Serializer):
    id = serializers.UUIDField()
    from_family = serializers.BooleanField()
    author = serializers.CharField(help_text=_("Empty for your family's own messages."))
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class _Conversation(serializers.Serializer):
    id = serializers.UUIDField()
    subject = serializers.CharField()
    started_at = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField()
    members = _ThreadMember(
        many=True, help_text=_("The network members you chose into the thread.")
    )
    messages = _Message(many=True)


class _Correction(serializers.Serializer):
    id = serializers.UUIDField()
    item_kind = serializers.CharField()
    item_kind_label = serializers.CharField()
    item_label = serializers.CharField()
    item_id = serializers.UUIDField(allow_null=True)
    what_is_wrong = serializers.CharField()
    should_say = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    answer = serializers.CharField()
    created_at = serializers.DateTimeField()
    answered_at = serializers.DateTimeField(allow_null=True)


class _Event(serializers.Serializer):
    at = serializers.DateTimeField()
    who = serializers.CharField(help_text=_("Empty where the reader is not named."))
    organisation = serializers.CharField()
    title = serializers.CharField()
    role = serializers.CharField()
    what = serializers.CharField()
    categories = serializers.ListField(child=serializers.CharField())
    action = serializers.CharField()
    refused = serializers.BooleanField()
    emergency = serializers.BooleanField()


class FamilyCopySerializer(serializers.Serializer):
    format = serializers.CharField(help_text=_("The document's format and version."))
    generated_at = serializers.DateTimeField()
    case = _Case()
    family = _Family()
    plan = _Plan()
    network = _Network()
    notes = _Note(many=True)
    consents = _Consent(many=True)
    legal_bases = _LegalBasis(
        many=True,
        help_text=_("Disclosures a law allows without consent (those not withheld from you)."),
    )
    conversations = _Conversation(
        many=True, help_text=_("Your message threads with the messages you can read in them.")
    )
    corrections = _Correction(many=True)
    access_history = _Event(many=True)


class FamilyCopyView(CaseScopedMixin, APIView):
    """Your family's own copy: everything the family portal shows of the case (members,
    network, plan, notes, consents with their signed receipts, legal bases, messages,
    correction requests, who has seen your information). For a guardian of the family; anyone
    else gets 404. The download is recorded in the access log as an export."""

    audit_resource = "family-copy"
    action = "export"
    audit_read_actions = {"export": AccessEvent.Action.EXPORT}

    def shown_categories(self, case, access):
        copy = self._copy
        return copy.categories, copy.sources

    @extend_schema(responses=FamilyCopySerializer)
    def get(self, request, case_pk=None):
        case, access = self.case_and_access(need=Need.FAMILY)
        self._copy = family_view.family_copy(
            user=cast(User, request.user), case=case, access=access
        )
        # The document as built: the portal's download holds the very same.
        return Response(self._copy.document)
