"""The family's voice (issue 18): a held network meeting or a closed case asks the guardian a
few questions in the portal; the answer is stored apart from the question with the area and
month only, appears in the shares, and in no export that names a family or case."""

import datetime

import pytest
from django.db import models
from django.test import Client
from django.utils import timezone

from cases.models import Meeting
from reports.models import FeedbackAnswer, FeedbackPrompt
from tests.conftest import ANNA, HANNA, KAISA, OLLI, TERO, TIINA

pytestmark = pytest.mark.django_db

PHRASE = "Kukaan ei kysynyt samaa kahdesti tässä"  # the free text, to look for everywhere


def _hold_meeting(case, organiser):
    start = timezone.now() - datetime.timedelta(hours=2)
    return Meeting.objects.create(
        case=case,
        title="Verkostopalaveri",
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=1),
        organiser=organiser,
        status=Meeting.Status.HELD,
    )


def _portal(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_answer_lands_in_the_shares_and_in_no_export_that_names_the_family(api, demo_world):
    case, users = demo_world.case, demo_world.users
    hanna = users[HANNA]
    assert FeedbackPrompt.objects.filter(case=case).count() == 0
    _hold_meeting(case, users[TIINA])
    prompt = FeedbackPrompt.objects.get(case=case, guardian=hanna)
    assert prompt.occasion == "meeting" and not prompt.answered

    portal = _portal(hanna)
    page = portal.get(f"/portal/cases/{case.pk}/")
    assert f"/portal/cases/{case.pk}/feedback/" in page.content.decode()
    page = portal.get(f"/portal/cases/{case.pk}/feedback/")
    assert page.status_code == 200
    response = portal.post(
        f"/portal/cases/{case.pk}/feedback/",
        {
            "told_story_more_than_once": "no",
            "knows_responsible_worker": "yes",
            "help_at_right_time": "no",
            "free_text": PHRASE,
        },
    )
    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.answered
    answer = FeedbackAnswer.objects.get()
    assert answer.free_text == PHRASE
    assert answer.area.code == "north"
    assert answer.month == timezone.localdate().replace(day=1)
    # Asked once: a second answer is refused, and the page says there is nothing to answer.
    again = portal.post(f"/portal/cases/{case.pk}/feedback/", {"help_at_right_time": "yes"})
    assert again.status_code == 400
    assert FeedbackAnswer.objects.count() == 1

    # Nothing on the answer leads back: no key to any other table, no time of day.
    assert [
        field.name
        for field in FeedbackAnswer._meta.get_fields()
        if isinstance(field, models.ForeignKey)
    ] == ["area"]
    assert not any(
        isinstance(field, models.DateTimeField) for field in FeedbackAnswer._meta.get_fields()
    )

    # Fourteen other families answered the same month in the area (five left the question
    # empty: a zero "no answer" would tell as much as one): the shares show, Hanna's in them.
    month = answer.month
    FeedbackAnswer.objects.bulk_create(
        [
            FeedbackAnswer(area=answer.area, month=month, help_at_right_time=reply)
            for reply in ["yes"] * 5 + ["no"] * 4 + [""] * 5
        ]
    )
    kaisa = api.as_user(users[KAISA])
    this_month = month.strftime("%Y-%m")
    body = kaisa.get("/api/v1/reports/indicators/", {"area": "north", "from": this_month}).json()
    values = {item["key"]: item for item in body["indicators"]}
    assert values["feedback_answers"]["values"][0]["value"] == 15
    assert values["feedback_help_at_right_time_share"]["values"][0]["value"] == 0.5
    # 1 yes and 14 "no answer" to the second question: under the threshold, withheld.
    assert values["feedback_knows_responsible_worker_share"]["values"][0]["value"] is None
    # By municipality it is never shown: answers carry the area only.
    by_municipality = kaisa.get(
        "/api/v1/reports/indicators/",
        {"area": "north", "from": this_month, "municipality": "asikkala"},
    ).json()
    shown = {item["key"]: item["values"][0]["value"] for item in by_municipality["indicators"]}
    assert shown["feedback_answers"] is None

    # No export that names a family or a case holds the answer or its free text.
    exports = [
        kaisa.get("/api/v1/reports/indicators.csv", {"area": "north", "from": this_month}),
        api.as_user(hanna).get(f"/api/v1/cases/{case.pk}/family-copy/"),
        portal.get(f"/portal/cases/{case.pk}/copy.json"),
        portal.get(f"/portal/cases/{case.pk}/copy.html"),
        api.as_user(users[TIINA]).get(f"/api/v1/cases/{case.pk}/"),
        api.as_user(users[TIINA]).get(f"/api/v1/cases/{case.pk}/access-history/"),
        api.as_user(hanna).get(f"/api/v1/families/{case.family_id}/access-history/"),
        api.as_user(users[TERO]).get("/api/v1/audit/events/"),
        api.as_user(users[TERO]).get("/api/v1/audit/events/export/"),
    ]
    for user in (users[ANNA], users[OLLI]):
        exports.append(api.as_user(user).get(f"/api/v1/cases/{case.pk}/"))
    for response in exports:
        assert response.status_code == 200, response
        content = b"".join(response.streaming_content) if response.streaming else response.content
        text = content.decode()
        assert PHRASE not in text
        assert str(answer.pk) not in text
        assert str(prompt.pk) not in text


def test_closing_the_case_asks_too_and_others_cannot_answer(api, demo_world):
    case, users = demo_world.case, demo_world.users
    case.status = "closed"
    case.closed_at = timezone.now()
    case.closing_reason = "Tavoitteet saavutettu"
    case.save()
    prompt = FeedbackPrompt.objects.get(case=case, guardian=users[HANNA])
    assert prompt.occasion == "closing"
    # A worker gets the portal's 404 for the page, as for a case that does not exist.
    response = _portal(users[TIINA]).post(
        f"/portal/cases/{case.pk}/feedback/", {"help_at_right_time": "yes"}
    )
    assert response.status_code == 404
    assert not FeedbackAnswer.objects.exists()
