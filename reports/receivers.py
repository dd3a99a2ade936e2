"""Asks the family for feedback (issue 18): a prompt to each guardian with an account after a
network meeting is held and when the case closes."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from cases.models import Case, FamilyMember, Meeting
from reports.models import FeedbackPrompt


def _prompt(case: Case, occasion: str, key: str) -> None:
    guardians = FamilyMember.objects.filter(
        family_id=case.family_id, role=FamilyMember.Role.GUARDIAN, user__isnull=False
    ).values_list("user_id", flat=True)
    for user_id in guardians:
        FeedbackPrompt.objects.get_or_create(
            guardian_id=user_id, case=case, occasion_key=key, defaults={"occasion": occasion}
        )


@receiver(post_save, sender=Meeting, dispatch_uid="reports_meeting_feedback")
def meeting_held(sender, instance: Meeting, raw=False, **kwargs):
    if not raw and instance.status == Meeting.Status.HELD:
        _prompt(instance.case, FeedbackPrompt.Occasion.MEETING, str(instance.pk))


@receiver(post_save, sender=Case, dispatch_uid="reports_case_closed_feedback")
def case_closed(sender, instance: Case, raw=False, **kwargs):
    if not raw and instance.status == Case.Status.CLOSED:
        _prompt(instance, FeedbackPrompt.Occasion.CLOSING, "closing")
