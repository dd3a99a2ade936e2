"""Reporting data of issue 18: organisations' own monthly figures, and the family's feedback,
kept apart from who was asked so that no answer leads back to a family."""

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OrganisationFigure(models.Model):
    """One organisation's figures of one of its services for one month (an NGO's, a parish's):
    aggregate counts only, never a family."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        "cases.Organisation", on_delete=models.PROTECT, related_name="figures"
    )
    service = models.ForeignKey("cases.Service", on_delete=models.PROTECT, related_name="figures")
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    participants = models.PositiveIntegerField(_("participants"), default=0)
    sessions = models.PositiveIntegerField(_("sessions"), default=0)
    new_families = models.PositiveIntegerField(_("new families"), default=0)
    entered_by = models.ForeignKey(
        "cases.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    entered_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-month", "service_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "month"], name="one_figure_per_service_month"
            )
        ]
        verbose_name = _("organisation's monthly figures")
        verbose_name_plural = _("organisations' monthly figures")

    def __str__(self):
        return f"{self.service_id} {self.month:%Y-%m}"

    def clean(self):
        if self.month and self.month.day != 1:
            raise ValidationError({"month": _("Give the month as its first day.")})
        if self.service_id and self.organisation_id:
            if self.service.organisation_id != self.organisation_id:
                raise ValidationError({"service": _("The service is not this organisation's.")})


class FeedbackPrompt(models.Model):
    """That a guardian was asked for feedback on a case, and whether they answered; never what.
    The answer (FeedbackAnswer) holds no link back here."""

    class Occasion(models.TextChoices):
        MEETING = "meeting", _("After a network meeting")
        CLOSING = "closing", _("When the case closed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    guardian = models.ForeignKey("cases.User", on_delete=models.CASCADE, related_name="+")
    occasion = models.CharField(max_length=10, choices=Occasion.choices)
    # The meeting's id, or "closing": one prompt per guardian and occasion.
    occasion_key = models.CharField(max_length=40, editable=False)
    asked_at = models.DateTimeField(default=timezone.now, editable=False)
    answered = models.BooleanField(default=False)

    class Meta:
        ordering = ["asked_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["guardian", "case", "occasion_key"], name="one_prompt_per_occasion"
            )
        ]
        verbose_name = _("feedback prompt")
        verbose_name_plural = _("feedback prompts")

    def __str__(self):
        return f"{self.case_id} {self.occasion}"


class FeedbackAnswer(models.Model):
    """An anonymous answer: the area and the month only; no case, family, user, time of day or
    key that leads back to one."""

    class Reply(models.TextChoices):
        YES = "yes", _("Yes")
        NO = "no", _("No")
        # Not answered: the question was left empty.
        NONE = "", _("No answer")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    area = models.ForeignKey("cases.Area", on_delete=models.PROTECT, related_name="+")
    month = models.DateField()
    told_story_more_than_once = models.CharField(
        max_length=3, choices=Reply.choices, blank=True, default=""
    )
    knows_responsible_worker = models.CharField(
        max_length=3, choices=Reply.choices, blank=True, default=""
    )
    help_at_right_time = models.CharField(
        max_length=3, choices=Reply.choices, blank=True, default=""
    )
    free_text = models.TextField(blank=True)

    class Meta:
        # By the random id: the order of the rows tells nothing of when they came.
        ordering = ["id"]
        verbose_name = _("feedback answer")
        verbose_name_plural = _("feedback answers")

    def __str__(self):
        return f"{self.area_id} {self.month:%Y-%m}"


QUESTIONS = ("told_story_more_than_once", "knows_responsible_worker", "help_at_right_time")
