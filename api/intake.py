"""The intake queue (issue 17): contact requests from families without a case, for intake workers.

Who sees a request is `consent.policy.contact_requests_for_user`: anyone who is not an intake
worker gets 403 for the queue and for every request alike, an intake worker 404 for a request
outside their queue (as for one that does not exist). Every response that shows requests writes
one access-log entry per request: resource `contact-request`, the request named in `purpose`,
its case (once opened) in `case_id`.
"""

from collections.abc import Callable
from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api import serializers as s
from api.audit import AuditedMixin
from api.views import UUID_REGEX
from audit.models import AccessEvent
from audit.recorder import recorder_for
from cases import intake, selectors
from cases.models import ContactRequest, Organisation, User
from consent import policy

AUDIT_RESOURCE = "contact-request"


class ContactRequestSerializer(serializers.ModelSerializer):
    municipality = s.MunicipalityRefSerializer(read_only=True)
    organisation = s.OrganisationRefSerializer(
        read_only=True,
        allow_null=True,
        help_text=_("The organisation it was referred on to; null: the area's queue."),
    )
    taken_by = s.UserRefSerializer(read_only=True, allow_null=True)
    referred_by = s.UserRefSerializer(read_only=True, allow_null=True)
    closed_by = s.UserRefSerializer(read_only=True, allow_null=True)
    case = serializers.UUIDField(source="case_id", read_only=True, allow_null=True)
    email = serializers.CharField(read_only=True, help_text=_("Empty when none was given."))
    close_reason = serializers.CharField(
        read_only=True,
        help_text=_(
            "Why it was closed: advised, unreachable, duplicate, withdrawn or not_genuine; "
            "empty while it is not closed."
        ),
    )
    language = serializers.CharField(
        read_only=True, help_text=_("The language the request was written in: fi, sv or en.")
    )

    class Meta:
        model = ContactRequest
        fields = [
            "id",
            "status",
            "created_at",
            "municipality",
            "organisation",
            "first_name",
            "last_name",
            "email",
            "phone",
            "reach_by",
            "need",
            "language",
            "taken_by",
            "taken_at",
            "contact_by",
            "case",
            "referred_by",
            "referred_at",
            "referral_note",
            "closed_by",
            "closed_at",
            "close_reason",
            "close_note",
        ]
        read_only_fields = fields


class ContactRequestTakeSerializer(s.InputSerializer):
    contact_by = serializers.DateField(
        help_text=_("The date by which you will contact the family (they are told).")
    )


class ContactRequestOpenCaseSerializer(s.InputSerializer):
    responsible_worker = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text=_("The case's responsible worker; you by default."),
    )
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text=_("The responsible organisation; the worker's own by default."),
    )
    opening_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=intake.NEED_LIMIT
    )


class ContactRequestReferSerializer(s.InputSerializer):
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(),
        help_text=_("The organisation whose intake takes the request on."),
    )
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=intake.NOTE_LIMIT
    )


class ContactRequestCloseSerializer(s.InputSerializer):
    reason = serializers.ChoiceField(choices=ContactRequest.CloseReason.choices)
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=intake.NOTE_LIMIT
    )


class ContactRequestViewSet(
    AuditedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Contact requests in your intake queue: take one (the family is told who will contact them
    and by when), open a case from it, refer it on to another organisation, or close it."""

    serializer_class = ContactRequestSerializer
    lookup_value_regex = UUID_REGEX
    filterset_fields = ["status"]
    audit_resource = AUDIT_RESOURCE
    audit_case_kwarg = None  # the URL names a request

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ContactRequest.objects.none()
        requests, self._memberships = selectors.contact_request_list(
            user=cast(User, self.request.user)
        )
        return requests

    def get_object(self):
        contact_request, access = selectors.contact_request_get(
            user=cast(User, self.request.user), request_id=self.kwargs["pk"]
        )
        self._accesses = {contact_request.pk: access}
        return contact_request

    def audit_shown(self):
        return []  # no case's data: each request shown is logged in finalize_response

    def _shown_accesses(self, shown) -> dict:
        if hasattr(self, "_accesses"):
            return self._accesses
        return policy.intake_accesses(self._memberships, shown)

    def finalize_response(self, request, response, *args, **kwargs):
        shown = self.shown_objects()
        if response.status_code < 400 and shown:
            accesses = self._shown_accesses(shown)
            recorder = recorder_for(request)
            listed = self.action_is_list()
            for contact_request in shown:
                recorder.allowed_record(
                    access=accesses[contact_request.pk],
                    resource=AUDIT_RESOURCE,
                    action=AccessEvent.Action.LIST if listed else AccessEvent.Action.VIEW,
                    record=f"contact-request:{contact_request.pk}",
                    case_id=contact_request.case_id,
                )
        return super().finalize_response(request, response, *args, **kwargs)

    def _act(self, body: type[s.InputSerializer], write: Callable[..., ContactRequest]):
        """One action on a request, the shape of them all: the request fetched as the user may
        see it (`get_object`, the policy's 403 or 404, before the body is read), the body
        parsed, one write of cases.intake with the acting user (which takes the row lock and
        asks the policy again), and the request as it now is (logged as a view, as it shows
        the request)."""
        contact_request = self.get_object()
        data = body(data=self.request.data)
        data.is_valid(raise_exception=True)
        done = write(
            actor=cast(User, self.request.user),
            contact_request=contact_request,
            **data.validated_data,
        )
        return Response(self.get_serializer(done).data)

    @extend_schema(request=ContactRequestTakeSerializer, responses=ContactRequestSerializer)
    @action(detail=True, methods=["post"])
    def take(self, request, pk=None):
        """Take the request: you will contact the family by the date you give."""
        return self._act(ContactRequestTakeSerializer, intake.contact_request_take)

    @extend_schema(request=ContactRequestOpenCaseSerializer, responses=ContactRequestSerializer)
    @action(detail=True, methods=["post"], url_path="open-case")
    def open_case(self, request, pk=None):
        """Open a case from the request, with a responsible worker (you by default): the family
        is created with the sender as its guardian, who gets a portal account by e-mail."""
        return self._act(ContactRequestOpenCaseSerializer, intake.contact_request_open_case)

    @extend_schema(request=ContactRequestReferSerializer, responses=ContactRequestSerializer)
    @action(detail=True, methods=["post"], url_path="refer-on")
    def refer_on(self, request, pk=None):
        """Refer the request on to another organisation's intake."""
        return self._act(ContactRequestReferSerializer, intake.contact_request_refer)

    @extend_schema(request=ContactRequestCloseSerializer, responses=ContactRequestSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close the request without a case, with a reason."""
        return self._act(ContactRequestCloseSerializer, intake.contact_request_close)
