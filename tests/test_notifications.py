"""E-mail notifications through the outbox: sent after commit, never losing the change behind them.

Acceptance 4 of issue 6 is
`test_a_failing_mail_server_keeps_the_change_and_the_retry_command_sends_it`.
"""

import datetime
import smtplib
from io import StringIO

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from cases import notifications, services
from cases.models import Invitation, OutboundMail, PlanAction, Service
from consent import services as consent_services
from tests.conftest import persona as user
from tests.factories import OrganisationFactory, WorkerFactory

pytestmark = pytest.mark.django_db

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


class FailingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def mail_server_down(settings):
    settings.EMAIL_BACKEND = "tests.test_notifications.FailingBackend"


@pytest.fixture
def scenario(demo_case):
    """The Virtanen case of the demo (tests/conftest.py)."""
    return demo_case


def retry_mail(*args) -> str:
    out = StringIO()
    call_command("retry_mail", *args, stdout=out)
    return out.getvalue()


def sent_to(address) -> list:
    return [m for m in mail.outbox if address in m.to]


# --- Acceptance 4 --------------------------------------------------------------------------------


def test_a_failing_mail_server_keeps_the_change_and_the_retry_command_sends_it(
    api, owner, family_case, settings, mail_server_down, caplog, django_capture_on_commit_callbacks
):
    nurse = WorkerFactory(email="nurse@clinic.example")
    organisation = nurse.memberships.get().organisation
    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_user(owner).post(
            f"/api/v1/cases/{family_case.pk}/invitations/",
            {"organisation": str(organisation.pk), "invited_user": str(nurse.pk)},
            format="json",
        )
    # The change committed and answered 201; the mail failed, was logged, and waits.
    assert response.status_code == 201, response.content
    assert Invitation.objects.filter(pk=response.json()["id"], status="pending").exists()
    assert mail.outbox == []
    [outbound] = OutboundMail.objects.all()
    assert outbound.status == "pending" and outbound.attempts == 1
    assert outbound.last_error.startswith("SMTPServerDisconnected")
    assert outbound.next_attempt_at > timezone.now()
    assert any(
        record.levelname == "WARNING" and str(outbound.pk) in record.getMessage()
        for record in caplog.records
    )

    # Still down: the retry command tries again later, and the mail still waits.
    OutboundMail.objects.update(next_attempt_at=timezone.now())
    assert retry_mail().startswith("Sent 0, failed 1; 1 waiting")
    outbound.refresh_from_db()
    assert outbound.attempts == 2 and outbound.status == "pending"

    # Before its next attempt is due the command leaves it alone ...
    settings.EMAIL_BACKEND = LOCMEM
    assert retry_mail().startswith("Sent 0, failed 0; 1 waiting")
    # ... and sends it once it is due: the worker gets the link to accept with.
    OutboundMail.objects.update(next_attempt_at=timezone.now())
    assert retry_mail().startswith("Sent 1, failed 0; 0 waiting")
    [message] = mail.outbox
    assert message.to == ["nurse@clinic.example"]
    assert "/api/v1/invitations/" in message.body
    outbound.refresh_from_db()
    assert outbound.status == "sent" and outbound.sent_at is not None
    # Once sent, neither the address nor the text (with its one-time link) is kept.
    assert (outbound.recipients, outbound.subject, outbound.body) == ("", "", "")
    assert retry_mail("--all").startswith("Sent 0, failed 0")  # and it is sent only once
    assert len(mail.outbox) == 1


def test_a_mail_that_keeps_failing_is_given_up_and_can_be_retried_by_hand(
    owner, family_case, settings, mail_server_down
):
    nurse = WorkerFactory(email="nurse@clinic.example")
    services.invitation_create(
        actor=owner,
        case=family_case,
        organisation=nurse.memberships.get().organisation,
        invited_user=nurse,
    )
    for _ in range(notifications.MAX_ATTEMPTS):
        OutboundMail.objects.update(next_attempt_at=timezone.now())
        retry_mail()
    outbound = OutboundMail.objects.get()
    assert outbound.status == "failed" and outbound.attempts == notifications.MAX_ATTEMPTS
    settings.EMAIL_BACKEND = LOCMEM
    assert retry_mail().startswith("Sent 0, failed 0; 0 waiting, 1 given up")
    assert retry_mail("--all").startswith("Sent 1")
    assert len(mail.outbox) == 1


def test_a_rolled_back_change_sends_nothing_and_keeps_nothing(owner, family_case):
    nurse = WorkerFactory(email="nurse@clinic.example")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.invitation_create(
            actor=owner,
            case=family_case,
            organisation=nurse.memberships.get().organisation,
            invited_user=nurse,
        )
        raise RuntimeError("the request failed after the invitation was written")
    assert not OutboundMail.objects.exists()
    assert retry_mail("--all").startswith("Sent 0")
    assert mail.outbox == []


def test_two_senders_never_send_the_same_mail_twice(owner, family_case, settings):
    settings.EMAIL_BACKEND = LOCMEM
    nurse = WorkerFactory(email="nurse@clinic.example")
    services.invitation_create(
        actor=owner,
        case=family_case,
        organisation=nurse.memberships.get().organisation,
        invited_user=nurse,
    )
    outbound = OutboundMail.objects.get()
    assert notifications.deliver(outbound.pk) is True
    assert notifications.deliver(outbound.pk) is False
    assert len(mail.outbox) == 1


# --- What sends which mail -----------------------------------------------------------------------


def test_every_notification_of_the_coordination_flow(
    api, scenario, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = LOCMEM
    tiina, anna = user("tiina.vastuu"), user("anna.neuvola")
    hanna = user("hanna.huoltaja")

    # Consent request: to the guardians with a portal account.
    with django_capture_on_commit_callbacks(execute=True):
        consent = consent_services.consent_request(
            actor=tiina,
            case=scenario,
            recipients=[OrganisationFactory()],
            categories=["basic"],
            purpose_code="x",
            purpose="x",
            valid_until=timezone.now() + datetime.timedelta(days=30),
        )
    [message] = sent_to(hanna.email)
    assert "/portal/" in message.body and "Tiina Vastuu" in message.body

    # Decided by the guardian: to the responsible worker.
    with django_capture_on_commit_callbacks(execute=True):
        consent_services.consent_decide(actor=hanna, consent=consent, decision="granted")
    [message] = sent_to(tiina.email)
    assert f"/api/v1/cases/{scenario.pk}/" in message.body
    assert "given a consent" in message.body

    # Handover proposed (to the receiver) and accepted (to the former worker).
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        handover = services.handover_propose(actor=tiina, case=scenario, to_worker=anna)
    [message] = sent_to(anna.email)
    assert "Tiina Vastuu" in message.body and str(handover.pk) in message.body
    with django_capture_on_commit_callbacks(execute=True):
        services.handover_accept(actor=anna, handover=handover)
    [message] = sent_to(tiina.email)
    assert "Anna Neuvola" in message.body

    # Referral received: to the receiving organisation's address.
    mail.outbox.clear()
    service = Service.objects.get(name_fi="Lastenhoitoapu")
    with django_capture_on_commit_callbacks(execute=True):
        referral = services.referral_create(actor=anna, case=scenario, service=service)
    [message] = mail.outbox
    assert message.to == [service.organisation.email]
    assert f"/api/v1/referrals/incoming/{referral.pk}/" in message.body

    # Action due: to whoever does it, once per due date.
    mail.outbox.clear()
    action = services.plan_action_create(
        actor=anna,
        case=scenario,
        title="Kasvuseuranta",
        responsible_user=anna,
        due_date=timezone.localdate() + datetime.timedelta(days=2),
    )
    services.plan_action_create(
        actor=anna, case=scenario, title="Later", responsible_user=anna, due_date=None
    )
    with django_capture_on_commit_callbacks(execute=True):
        out = StringIO()
        call_command("send_action_reminders", stdout=out)
    assert "Reminded of 1" in out.getvalue()
    [message] = mail.outbox
    assert message.to == [anna.email] and str(action.pk) in message.body
    assert PlanAction.objects.get(pk=action.pk).reminded_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_action_reminders", stdout=StringIO())
    assert len(mail.outbox) == 1

    # No mail names the family or tells anything about it: e-mail is not a secure channel.
    for outbound in mail.outbox:
        for secret in ("Virtanen", "Hanna", "Aino", "Eeli"):
            assert secret not in outbound.body and secret not in outbound.subject


def test_a_coordinators_proposal_names_the_coordinator_and_tells_them_of_the_answer(
    scenario, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = LOCMEM
    kaisa = user("kaisa.koordinaattori")
    tiina = user("tiina.vastuu")
    anna = user("anna.neuvola")
    services.worker_deactivate(actor=kaisa, worker=tiina)
    with django_capture_on_commit_callbacks(execute=True):
        handover = services.handover_reassign(actor=kaisa, case=scenario, to_worker=anna)
    [message] = sent_to(anna.email)
    assert "Kaisa Koordinaattori" in message.body
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.handover_accept(actor=anna, handover=handover)
    # The coordinator hears of it; the departed worker, whose account is closed, does not.
    assert [m.to for m in mail.outbox] == [[kaisa.email]]


def test_mails_are_written_in_finnish_swedish_and_english(owner, family_case):
    nurse = WorkerFactory(email="nurse@clinic.example")
    services.invitation_create(
        actor=owner,
        case=family_case,
        organisation=nurse.memberships.get().organisation,
        invited_user=nurse,
    )
    outbound = OutboundMail.objects.get()
    assert outbound.subject == (
        "Sinut on kutsuttu perheen verkostoon / Du är inbjuden till en familjs nätverk / "
        "You are invited into a family's network"
    )
    first, second, third = outbound.body.split(notifications.SEPARATOR)
    assert "kutsuu sinut" in first and "bjuder in dig" in second and "invites you" in third


def test_a_text_without_a_translation_is_written_once(settings):
    subject, body = notifications.render(
        "action_due", {"due": "2026-12-01", "link": "https://example.org/x"}
    )
    assert body.count("https://example.org/x") == len(body.split(notifications.SEPARATOR))
    assert len(set(subject.split(" / "))) == len(subject.split(" / "))


def test_nobody_without_an_address_is_mailed(owner, family_case):
    nurse = WorkerFactory(email="")
    services.invitation_create(
        actor=owner,
        case=family_case,
        organisation=nurse.memberships.get().organisation,
        invited_user=nurse,
        email="",
    )
    assert not OutboundMail.objects.exists()


def test_the_outbox_keeps_addresses_and_text_encrypted(owner, family_case):
    from django.db import connection

    nurse = WorkerFactory(email="nurse@clinic.example")
    services.invitation_create(
        actor=owner,
        case=family_case,
        organisation=nurse.memberships.get().organisation,
        invited_user=nurse,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT recipients, subject, body FROM cases_outboundmail")
        row = " ".join(cursor.fetchone())
    assert "nurse@clinic.example" not in row and "invitations" not in row
    from auditlog.models import LogEntry

    [entry] = LogEntry.objects.get_for_model(OutboundMail)
    assert set(entry.changes) <= {"kind", "status", "attempts", "sent_at"}


@pytest.mark.parametrize("kind", sorted(notifications.TEXTS))
def test_every_kind_of_mail_is_translated_into_finnish_and_swedish(kind):
    context = {
        "inviter": "Tiina",
        "organisation": "MLL",
        "link": "https://example.org/x",
        "expires": "2026-12-07",
        "requester": "Tiina",
        "decision": "granted",
        "proposer": "Tiina",
        "receiver": "Sanna",
        "service": "Perhekahvila",
        "referrer": "Tiina",
        "due": "2026-12-01",
        "organiser": "Tiina",
        "starts": "2026-12-09 09:00",
        "worker": "Tiina",  # booking (issue 17)
    }
    subject, body = notifications.render(kind, context)
    assert len(subject.split(" / ")) == 3, subject
    assert len(body.split(notifications.SEPARATOR)) == 3, body
