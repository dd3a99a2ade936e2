"""My work: everything waiting for a worker, in one request."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from api.audit import AuditedMixin, Shown
from api.corrections import CorrectionSerializer
from api.plan_actions import PlanActionSerializer
from cases import selectors
from consent import policy
from koordinointi.vocabulary import PROTECTED, Category


class ConsentRequestBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    case = serializers.UUIDField(source="case_id")
    categories = serializers.ListField(child=serializers.CharField())
    recipients = serializers.SerializerMethodField()
    requested_at = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()

    def get_recipients(self, consent) -> list[dict]:
        organisations = self.context["consent_recipients"].get(consent.pk, [])
        return list(s.OrganisationRefSerializer(organisations, many=True).data)


class MyWorkSerializer(serializers.Serializer):
    responsible_cases = s.CaseSerializer(many=True)
    member_cases = s.CaseSerializer(many=True)
    invitations = s.InvitationSerializer(many=True)
    handovers = s.HandoverSerializer(many=True, help_text=_("Handovers waiting for your answer."))
    actions_overdue = PlanActionSerializer(many=True)
    actions_due_soon = PlanActionSerializer(many=True)
    consent_requests = ConsentRequestBriefSerializer(
        many=True, help_text=_("Consents you asked for that the family has not answered yet.")
    )
    correction_requests = CorrectionSerializer(
        many=True,
        help_text=_(
            "The families' requests to correct their information, waiting for your answer "
            "(POST …/cases/{case_pk}/corrections/{id}/answer/)."
        ),
    )


class MyWorkView(AuditedMixin, APIView):
    """Everything waiting for you as a worker, in one request: your open cases as responsible
    worker and as member, invitations and handovers waiting for your answer, plan actions due
    within 14 days or overdue, consent requests still waiting for the family, and the families'
    correction requests waiting for your answer."""

    audit_resource = "my-work"
    audit_case_kwarg = None

    def action_is_list(self):
        return True

    def audit_shown(self):
        work = getattr(self, "_work", None)
        if work is None:
            return []
        with_actions = {a.case_id for a in work.overdue + work.due_soon}
        protected_actions = {a.case_id for a in work.overdue + work.due_soon if a.protected}
        corrections: dict = {}
        for correction in work.corrections:
            corrections.setdefault(correction.case_id, set()).add(correction.category)
        shown = []
        for case in work.cases:
            access = work.access[case.pk]
            categories: set[str] = set()
            sources: set = set()
            if policy.shows_family_on_desk(access):
                categories.add(Category.BASIC)
                sources.add(case.family.recorded_by_id)
            if case.pk in with_actions:
                categories.add(Category.PLAN)
                sources.add(case.responsible_organisation_id)
            if case.pk in corrections:  # what the family says about an item of that category
                categories |= corrections[case.pk]
                sources.add(case.responsible_organisation_id)
            if PROTECTED in self.disclosure.of(case.pk)[0] or (
                case.pk in protected_actions and policy.shows_protected(access)
            ):
                categories.add(PROTECTED)
            shown.append(Shown(case, access, categories, sources))
        return shown

    @extend_schema(responses=MyWorkSerializer)
    def get(self, request):
        work = self._work = selectors.my_work(user=request.user)
        context = {
            "request": request,
            "access": work.access,
            "consent_recipients": work.consent_recipients,
            "disclosure": self.disclosure,
        }
        body = MyWorkSerializer(
            {
                "responsible_cases": work.cases_as("responsible"),
                "member_cases": work.cases_as("member"),
                "invitations": work.invitations,
                "handovers": work.handovers,
                "actions_overdue": work.overdue,
                "actions_due_soon": work.due_soon,
                "consent_requests": work.consent_requests,
                "correction_requests": work.corrections,
            },
            context=context,
        )
        return Response(body.data)
