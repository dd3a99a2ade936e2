"""Writes of the reports app (issue 18): organisations' monthly figures, and the family's
anonymous feedback answers."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import Case, Service
from consent import policy
from reports.models import QUESTIONS, FeedbackAnswer, FeedbackPrompt, OrganisationFigure


@transaction.atomic
def organisation_figure_save(
    *,
    actor,
    service_id,
    month: datetime.date,
    participants: int,
    sessions: int,
    new_families: int,
) -> OrganisationFigure:
    """The figures of one service for one month, entered (or corrected) by a worker of the
    service's organisation."""
    service = Service.objects.filter(pk=service_id).select_related("organisation").first()
    if service is None:
        raise ValidationError({"service": _("No such service.")})
    policy.require_may_enter_figures(actor, service.organisation_id)
    figure = OrganisationFigure.objects.filter(service=service, month=month).first()
    if figure is None:
        figure = OrganisationFigure(service=service, organisation=service.organisation, month=month)
    figure.participants = participants
    figure.sessions = sessions
    figure.new_families = new_families
    figure.entered_by = actor
    figure.full_clean()
    figure.save()
    return figure


def _area_of(case: Case):
    """The family-centre area an answer is counted in: the responsible organisation's, or else
    the first of the family's municipality's areas."""
    organisation = case.responsible_organisation
    if organisation is not None and organisation.area_id:
        return organisation.area_id
    return case.family.municipality.areas.order_by("code").values_list("pk", flat=True).first()


@transaction.atomic
def feedback_answer(*, actor, prompt: FeedbackPrompt, replies: dict, free_text: str) -> None:
    """Stores the answer apart from the prompt: the answer keeps the area and the month only,
    and the prompt only that it was answered."""
    prompt = FeedbackPrompt.objects.select_for_update().get(pk=prompt.pk)
    if prompt.guardian_id != actor.pk:
        raise ValidationError(_("This question was not asked of you."))
    if prompt.answered:
        raise ValidationError(_("You have already answered this question."))
    case = Case.objects.select_related("responsible_organisation", "family__municipality").get(
        pk=prompt.case_id
    )
    area_id = _area_of(case)
    if area_id is None:
        raise ValidationError(_("Your answer cannot be counted in any area."))
    answer = FeedbackAnswer(
        area_id=area_id,
        month=timezone.localdate().replace(day=1),
        free_text=free_text.strip(),
        **{question: replies.get(question, "") for question in QUESTIONS},
    )
    answer.full_clean()
    answer.save()
    prompt.answered = True
    prompt.save(update_fields=["answered"])
