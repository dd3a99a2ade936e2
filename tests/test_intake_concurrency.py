"""The front door under concurrency (issue 17): two intake workers opening a case from the same
contact request at once. In a module of its own: a transactional test must not run inside the
atomic block that the other intake tests' module-scoped demo world holds open (the request it
makes would then be invisible to the threads' own connections)."""

import pytest

from cases import intake
from cases.models import Case, ContactRequest, User
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory
from tests.test_intake import a_request


@pytest.mark.django_db(transaction=True)
def test_of_two_intake_workers_opening_a_case_at_once_exactly_one_wins():
    """Two requests open a case from the same contact request at the same moment, each on its
    own connection (the row lock of `cases.intake`): one case, one family, one account."""
    import threading

    from django.core.exceptions import ValidationError
    from django.db import close_old_connections, connection

    from tests.factories import MunicipalityFactory, WorkerFactory

    centre = OrganisationFactory(name="Perhekeskus")
    intake_workers = []
    for username in ("iida.intake", "ilkka.intake"):
        user = UserFactory(username=username)
        MembershipFactory(user=user, organisation=centre, role="intake")
        intake_workers.append(user)
    worker = WorkerFactory(username="vera.vastuu", membership__organisation=centre)
    contact_request = a_request(municipality=MunicipalityFactory())
    barrier = threading.Barrier(2)
    outcomes = []

    def open_case(actor):
        try:
            barrier.wait(timeout=10)
            intake.contact_request_open_case(
                actor=actor,
                contact_request=ContactRequest.objects.get(pk=contact_request.pk),
                responsible_worker=worker,
            )
            outcomes.append("won")
        except ValidationError:
            outcomes.append("lost")
        except Exception as error:  # anything else is a defect: report it
            outcomes.append(repr(error))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=open_case, args=(user,)) for user in intake_workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["lost", "won"]
    assert Case.objects.filter(family__name="Salonen").count() == 1
    assert User.objects.filter(email="sanna.salonen@example.org").count() == 1
    assert ContactRequest.objects.get().status == "opened"
