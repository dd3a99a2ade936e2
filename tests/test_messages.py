"""Secure messages between the family and its workers (issue 17, acceptance 4): hanna and tiina
exchange messages through the portal and the API; olli, a member hanna did not choose, gets 404
on the thread; every read is in the access log; the mail says only that a message waits."""

import pytest
from django.test import Client

from audit.models import AccessEvent
from cases import services
from cases.models import (
    Conversation,
    ConversationRead,
    FamilyMember,
    Message,
    NetworkMember,
    OutboundMail,
)
from tests.conftest import ANNA, HANNA, JENNI, OLLI, TERO, TIINA, ULLA, persona
from tests.factories import access_of
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

SUBJECT = "Eelin koulupäivät"
FIRST = "Eeli väsyy iltapäivisin, voisimmeko puhua koulun kanssa?"
ANSWER = "Kiitos viestistä. Soitan koululle huomenna."


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def threads_url(case) -> str:
    return f"/api/v1/cases/{case.pk}/conversations/"


def thread_url(case, conversation_id) -> str:
    return f"{threads_url(case)}{conversation_id}/"


def member_of(case, username) -> NetworkMember:
    return NetworkMember.objects.get(case=case, user__username=username, removed_at=None)


def start(api, case, *, as_=HANNA, members=(), subject=SUBJECT, text=FIRST):
    return api.as_user(persona(as_)).post(
        threads_url(case),
        {"subject": subject, "text": text, "members": [str(m.pk) for m in members]},
        format="json",
    )


def portal_as(username) -> Client:
    client = Client()
    client.force_login(persona(username))
    return client


def reads_of(username, case, conversation_id=None):
    events = AccessEvent.objects.filter(
        username=username, case_id=case.pk, resource="conversations", outcome="allowed"
    )
    return list(events.order_by("seq"))


# --- The exchange -------------------------------------------------------------------------------


def test_hanna_and_tiina_exchange_messages_and_olli_who_was_not_chosen_gets_404(api, demo_case):
    case = demo_case
    anna = member_of(case, ANNA)
    created = start(api, case, members=[anna])
    assert created.status_code == 201, created.content
    thread = created.json()
    conversation_id = thread["id"]
    assert thread["subject"] == SUBJECT
    assert [m["id"] for m in thread["members"]] == [str(anna.pk)]
    assert [m["text"] for m in thread["messages"]] == [FIRST]
    assert thread["messages"][0]["from_family"] is True

    # Tiina, the responsible worker, is always in the thread: she sees it unread, reads it.
    tiina = api.as_user(persona(TIINA))
    [listed] = tiina.get(threads_url(case)).json()["results"]
    assert listed["id"] == conversation_id and listed["unread"] == 1
    read = tiina.get(thread_url(case, conversation_id))
    assert read.status_code == 200
    [message] = read.json()["messages"]
    assert message["text"] == FIRST and message["is_new"] is True
    assert message["author_name"] == "Hanna Virtanen"
    assert tiina.get(threads_url(case)).json()["results"][0]["unread"] == 0

    answered = tiina.post(
        f"{thread_url(case, conversation_id)}messages/", {"text": ANSWER}, format="json"
    )
    assert answered.status_code == 201, answered.content
    assert answered.json()["text"] == ANSWER and answered.json()["from_family"] is False

    # Hanna reads the answer in the portal, and answers there.
    hanna = portal_as(HANNA)
    page = hanna.get(f"/portal/cases/{case.pk}/conversations/")
    assert page.status_code == 200 and SUBJECT in page.content.decode()
    page = hanna.get(f"/portal/cases/{case.pk}/conversations/{conversation_id}/")
    text = page.content.decode()
    assert page.status_code == 200 and ANSWER in text and FIRST in text
    assert "Tiina Vastuu" in text
    sent = hanna.post(
        f"/portal/cases/{case.pk}/conversations/{conversation_id}/", {"text": "Kiitos!"}
    )
    assert sent.status_code == 302
    assert list(
        Message.objects.filter(conversation_id=conversation_id).values_list("text", flat=True)
    ) == [FIRST, ANSWER, "Kiitos!"]

    # Anna, whom hanna chose, reads and answers; olli, whom she did not, gets 404 everywhere.
    anna_api = api.as_user(persona(ANNA))
    assert anna_api.get(thread_url(case, conversation_id)).status_code == 200
    olli = api.as_user(persona(OLLI))
    assert olli.get(threads_url(case)).json()["results"] == []
    missing = olli.get(thread_url(case, conversation_id))
    assert missing.status_code == 404
    ghost = olli.get(thread_url(case, "00000000-0000-4000-8000-000000000000"))
    assert missing.json() == ghost.json()
    posted = olli.post(
        f"{thread_url(case, conversation_id)}messages/", {"text": "Hei"}, format="json"
    )
    assert posted.status_code == 404
    assert not ConversationRead.objects.filter(user__username=OLLI).exists()
    for outsider in (JENNI, ULLA, TERO):
        client = api.as_user(persona(outsider))
        assert client.get(thread_url(case, conversation_id)).status_code == 404
        assert client.get(threads_url(case)).status_code == 404
    assert Message.objects.filter(conversation_id=conversation_id).count() == 3


def test_every_read_of_a_thread_is_in_the_access_log(api, demo_case):
    case = demo_case
    conversation_id = start(api, case, members=[member_of(case, ANNA)]).json()["id"]
    tiina = api.as_user(persona(TIINA))
    tiina.get(threads_url(case))
    tiina.get(thread_url(case, conversation_id))
    portal_as(HANNA).get(f"/portal/cases/{case.pk}/conversations/{conversation_id}/")
    api.as_user(persona(ANNA)).get(thread_url(case, conversation_id))

    list_read, thread_read = reads_of(TIINA, case)
    assert list_read.action == "list" and "messages" in list_read.categories
    assert thread_read.action == "view" and "messages" in thread_read.categories
    assert "basic" in thread_read.categories  # hanna's name as its author
    [hanna_read] = reads_of(HANNA, case)
    assert "messages" in hanna_read.categories and hanna_read.role == "guardian"
    [anna_read] = reads_of(ANNA, case)
    assert anna_read.role == "member" and "messages" in anna_read.categories
    # Olli's attempt is logged too, as refused.
    api.as_user(persona(OLLI)).get(thread_url(case, conversation_id))
    refused = AccessEvent.objects.filter(username=OLLI, resource="conversations")
    assert [event.outcome for event in refused] == ["denied"]


def test_a_member_who_cannot_read_the_familys_basic_data_sees_no_guardian_name(api, demo_case):
    case = demo_case
    conversation_id = start(api, case, members=[member_of(case, OLLI)]).json()["id"]
    read = api.as_user(persona(OLLI)).get(thread_url(case, conversation_id))
    assert read.status_code == 200
    [message] = read.json()["messages"]
    assert message["text"] == FIRST and message["author_name"] == ""
    assert "Virtanen" not in read.content.decode()
    [event] = reads_of(OLLI, case)
    assert event.categories == ["messages"]


# --- Who starts, chooses and writes -------------------------------------------------------------


def test_only_the_family_chooses_members_and_members_do_not_start_threads(api, demo_case):
    case = demo_case
    anna = member_of(case, ANNA)
    by_tiina = start(api, case, as_=TIINA, members=[anna])
    assert by_tiina.status_code == 400 and "members" in by_tiina.json()
    assert start(api, case, as_=TIINA).status_code == 201  # with the family only
    assert start(api, case, as_=ANNA).status_code == 403
    assert start(api, case, as_=OLLI).status_code == 403
    assert start(api, case, as_=ULLA).status_code == 404


def test_a_thread_takes_only_professionals_of_this_network_now(api, demo_case):
    case = demo_case
    informal = services.network_add_informal(
        actor=persona(TIINA), case=case, name="Mummo", relationship="isoäiti", contact=""
    )
    for bad in ([informal.pk], ["00000000-0000-4000-8000-000000000000"]):
        response = api.as_user(persona(HANNA)).post(
            threads_url(case),
            {"subject": SUBJECT, "text": FIRST, "members": [str(pk) for pk in bad]},
            format="json",
        )
        assert response.status_code == 400 and "members" in response.json(), response.content
    assert not Conversation.objects.exists()


def test_bad_input_gets_a_clear_400_and_writes_nothing(api, demo_case):
    case = demo_case
    hanna = api.as_user(persona(HANNA))
    for body in (
        {},
        {"subject": "", "text": FIRST},
        {"subject": SUBJECT, "text": "   "},
        {"subject": "x" * 201, "text": FIRST},
        {"subject": SUBJECT, "text": FIRST, "members": ["not-a-uuid"]},
        {"subject": SUBJECT, "text": FIRST, "unknown": 1},
    ):
        response = hanna.post(threads_url(case), body, format="json")
        assert response.status_code == 400, (body, response.content)
    assert not Conversation.objects.exists()
    conversation_id = start(api, case).json()["id"]
    response = hanna.post(f"{thread_url(case, conversation_id)}messages/", {}, format="json")
    assert response.status_code == 400 and "text" in response.json()


def test_a_removed_member_no_longer_reads_the_thread(api, demo_case):
    case = demo_case
    anna = member_of(case, ANNA)
    conversation_id = start(api, case, members=[anna]).json()["id"]
    services.network_remove(actor=persona(TIINA), member=anna)
    assert api.as_user(persona(ANNA)).get(thread_url(case, conversation_id)).status_code == 404


def test_a_closed_cases_threads_are_read_but_not_written(api, demo_case):
    case = demo_case
    conversation_id = start(api, case).json()["id"]
    services.case_close(actor=persona(TIINA), case=case, reason="Tuki päättyi.")
    hanna = api.as_user(persona(HANNA))
    assert hanna.get(thread_url(case, conversation_id)).status_code == 200
    posted = hanna.post(f"{thread_url(case, conversation_id)}messages/", {"text": "Hei"})
    assert posted.status_code == 403
    assert start(api, case).status_code == 403
    page = portal_as(HANNA).get(f"/portal/cases/{case.pk}/conversations/{conversation_id}/")
    assert page.status_code == 200 and 'name="text"' not in page.content.decode()


# --- Non-disclosure -----------------------------------------------------------------------------


def test_a_protected_message_reaches_only_the_responsible_worker_and_the_members_she_names(
    api, demo_case
):
    case = demo_case
    tiina = persona(TIINA)
    anna, olli = member_of(case, ANNA), member_of(case, OLLI)
    conversation_id = start(api, case, members=[anna, olli]).json()["id"]
    guardian = case.family.members.get(role=FamilyMember.Role.GUARDIAN)
    services.non_disclosure_mark(
        actor=tiina, case=case, access=access_of(tiina, case), member=guardian, readers=[anna]
    )
    secret = "Uusi osoite: Turvakatu 1"
    posted = api.as_user(tiina).post(
        f"{thread_url(case, conversation_id)}messages/",
        {"text": secret, "protected": True},
        format="json",
    )
    assert posted.status_code == 201, posted.content
    for username, sees in ((TIINA, True), (ANNA, True), (OLLI, False), (HANNA, False)):
        body = api.as_user(persona(username)).get(thread_url(case, conversation_id))
        assert (secret in body.content.decode()) is sees, username
    [*_, anna_read] = reads_of(ANNA, case)
    assert "protected" in anna_read.categories
    # The family does not flag its own words protected: it would no longer read them.
    flagged = api.as_user(persona(HANNA)).post(
        f"{thread_url(case, conversation_id)}messages/",
        {"text": "Hei", "protected": True},
        format="json",
    )
    assert flagged.status_code == 403


# --- Read status and mail -----------------------------------------------------------------------


def test_reading_moves_the_readers_own_marker_only(api, demo_case):
    case = demo_case
    conversation_id = start(api, case, members=[member_of(case, ANNA)]).json()["id"]
    anna = api.as_user(persona(ANNA))
    assert anna.get(threads_url(case)).json()["results"][0]["unread"] == 1
    api.as_user(persona(TIINA)).get(thread_url(case, conversation_id))
    assert api.as_user(persona(ANNA)).get(threads_url(case)).json()["results"][0]["unread"] == 1
    assert ConversationRead.objects.filter(conversation_id=conversation_id).count() == 2


def test_the_mail_says_a_message_waits_and_nothing_of_it(api, demo_case):
    case = demo_case
    OutboundMail.objects.all().delete()
    conversation_id = start(api, case, members=[member_of(case, ANNA)]).json()["id"]
    [mail] = OutboundMail.objects.filter(kind="message_to_worker")
    recipients = set(mail.recipients.split("\n"))
    assert recipients == {persona(TIINA).email, persona(ANNA).email}
    assert f"/api/v1/cases/{case.pk}/conversations/{conversation_id}/" in mail.body
    for text in (SUBJECT, FIRST, "Virtanen", "Hanna", "Eeli"):
        assert text not in mail.body and text not in mail.subject
    assert not OutboundMail.objects.filter(kind="message_to_family").exists()

    api.as_user(persona(TIINA)).post(
        f"{thread_url(case, conversation_id)}messages/", {"text": ANSWER}, format="json"
    )
    [to_family] = OutboundMail.objects.filter(kind="message_to_family")
    assert to_family.recipients == persona(HANNA).email
    assert f"/portal/cases/{case.pk}/conversations/{conversation_id}/" in to_family.body
    assert ANSWER not in to_family.body
    [_first, to_anna] = OutboundMail.objects.filter(kind="message_to_worker")
    assert to_anna.recipients == persona(ANNA).email


# --- Portal -------------------------------------------------------------------------------------


def test_hanna_starts_a_thread_in_the_portal_choosing_anna(demo_case):
    case = demo_case
    hanna = portal_as(HANNA)
    page = hanna.get(f"/portal/cases/{case.pk}/conversations/")
    anna = member_of(case, ANNA)
    assert page.status_code == 200 and f'value="{anna.pk}"' in page.content.decode()
    sent = hanna.post(
        f"/portal/cases/{case.pk}/conversations/",
        {"subject": SUBJECT, "text": FIRST, "members": [str(anna.pk)]},
    )
    conversation = Conversation.objects.get()
    assert sent.status_code == 302
    assert sent["Location"] == f"/portal/cases/{case.pk}/conversations/{conversation.pk}/"
    assert list(conversation.members.all()) == [anna]
    empty = hanna.post(f"/portal/cases/{case.pk}/conversations/", {"subject": "", "text": ""})
    assert empty.status_code == 400 and 'class="field-error"' in empty.content.decode()
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize("username", [TIINA, ANNA, OLLI, ULLA])
def test_workers_get_404_in_the_portals_message_pages(demo_case, api, username):
    case = demo_case
    conversation_id = start(api, case, members=[member_of(case, ANNA)]).json()["id"]
    client = portal_as(username)
    assert client.get(f"/portal/cases/{case.pk}/conversations/").status_code == 404
    url = f"/portal/cases/{case.pk}/conversations/{conversation_id}/"
    assert client.get(url).status_code == 404
    assert client.post(url, {"text": "Hei"}).status_code == 404
    assert Message.objects.count() == 1


# --- Query counts -------------------------------------------------------------------------------


# The list: token 1, the case 1, the facts of a responsible worker 1 (one UNION), the count of
# threads for the pagination 1, the page of threads with their unread counts 1, their chosen
# members 1.
LIST_QUERIES = REQUEST + ACCESS_LOG + 6
# A thread: token 1, the case 1, the facts 1, the thread 1, its chosen members 1, its messages
# 1, the family's guardians (the authors' names) 1, the service's savepoint and its release 2,
# the read marker moved 1.
THREAD_QUERIES = REQUEST + ACCESS_LOG + 10


def test_the_thread_list_and_a_thread_take_a_constant_number_of_queries(
    api, demo_case, django_assert_num_queries
):
    case = demo_case
    anna = member_of(case, ANNA)
    conversation_id = start(api, case, members=[anna]).json()["id"]
    tiina = api.as_user(persona(TIINA))
    tiina.get(thread_url(case, conversation_id))  # her read marker exists from here on
    for more in (0, 4):
        for n in range(more):
            start(api, case, members=[anna], subject=f"Aihe {n}")
            api.as_user(persona(HANNA)).post(
                f"{thread_url(case, conversation_id)}messages/", {"text": f"Viesti {n}"}
            )
        tiina = api.as_user(persona(TIINA))
        with django_assert_num_queries(LIST_QUERIES):
            assert len(tiina.get(threads_url(case)).json()["results"]) == 1 + more
        with django_assert_num_queries(THREAD_QUERIES):
            assert len(tiina.get(thread_url(case, conversation_id)).json()["messages"]) == 1 + more


# --- Pagination ---------------------------------------------------------------------------------


def test_the_thread_list_is_paginated_like_the_other_lists(api, demo_case):
    case = demo_case
    subjects = [f"Aihe {n}" for n in range(3)]
    for subject in subjects:
        assert start(api, case, subject=subject).status_code == 201
    tiina = api.as_user(persona(TIINA))
    first = tiina.get(threads_url(case), {"page_size": 2}).json()
    assert first["count"] == 3 and first["previous"] is None and first["next"]
    second = tiina.get(first["next"]).json()
    assert second["next"] is None and second["previous"]
    listed = [t["subject"] for t in first["results"] + second["results"]]
    assert listed == subjects[::-1]  # newest first, each once
    # Each page's read is logged; an empty page (olli, in no thread) shows no messages.
    [*_, read] = reads_of(TIINA, case)
    assert "messages" in read.categories
    empty = api.as_user(persona(OLLI)).get(threads_url(case)).json()
    assert empty["count"] == 0 and empty["results"] == []
    [olli_read] = reads_of(OLLI, case)
    assert "messages" not in olli_read.categories


@pytest.mark.parametrize("query", [{"page_size": 0}, {"page_size": "x"}, {"page_size": 201}])
def test_a_bad_page_size_of_the_thread_list_is_a_400(api, demo_case, query):
    response = api.as_user(persona(TIINA)).get(threads_url(demo_case), query)
    assert response.status_code == 400 and "page_size" in response.json()


def test_a_page_past_the_end_of_the_thread_list_is_a_404(api, demo_case):
    start(api, demo_case)
    response = api.as_user(persona(TIINA)).get(threads_url(demo_case), {"page": 2})
    assert response.status_code == 404 and "detail" in response.json()


def test_a_page_of_threads_takes_as_many_queries_however_many_threads(
    api, demo_case, django_assert_num_queries
):
    case = demo_case
    for n in range(4):
        start(api, case, subject=f"Aihe {n}")
    for more in (0, 5):
        for n in range(more):
            start(api, case, subject=f"Lisää {n}")
        tiina = api.as_user(persona(TIINA))
        with django_assert_num_queries(LIST_QUERIES):
            body = tiina.get(threads_url(case), {"page_size": 2, "page": 2}).json()
        assert len(body["results"]) == 2 and body["count"] == 4 + more


def test_the_portal_thread_list_pages(demo_case, monkeypatch):
    from portal import conversations

    monkeypatch.setattr(conversations, "THREADS_PAGE_SIZE", 2)
    case = demo_case
    hanna = portal_as(HANNA)
    for n in range(3):
        sent = hanna.post(
            f"/portal/cases/{case.pk}/conversations/", {"subject": f"Aihe {n}", "text": FIRST}
        )
        assert sent.status_code == 302
    url = f"/portal/cases/{case.pk}/conversations/"
    first, second = hanna.get(url).content.decode(), hanna.get(url, {"page": 2}).content.decode()
    assert "Aihe 2" in first and "Aihe 1" in first and "Aihe 0" not in first
    assert 'href="?page=2"' in first and 'class="pager"' in first
    assert "Aihe 0" in second and "Aihe 2" not in second and 'href="?page=1"' in second
    # A page number that is not one shows the nearest page (Django's get_page), not an error.
    assert "Aihe 0" in hanna.get(url, {"page": "99"}).content.decode()
    assert hanna.get(url, {"page": "x"}).status_code == 200
