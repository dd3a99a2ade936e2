"""Shared fixtures: an API client that signs in as a given user, and three fixed people."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from cases import services
from tests.factories import MunicipalityFactory, OrganisationFactory, WorkerFactory


@pytest.fixture
def api(db, settings):
    """An API client; `api.as_user(user)` authenticates it with that user's token.

    The access log's chain head exists from the start, so that query counts of the first
    request equal those of every later one.
    """
    from audit.models import Chain

    Chain.objects.get_or_create(name=settings.AUDIT_CHAIN)
    client = APIClient()

    def as_user(user):
        from rest_framework.authtoken.models import Token

        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    client.as_user = as_user
    return client


@pytest.fixture
def organisation(db):
    return OrganisationFactory(name="Family social work")


@pytest.fixture
def municipality(db):
    return MunicipalityFactory(name="Asikkala")


@pytest.fixture
def owner(organisation):
    """The responsible worker of `family_case`."""
    return WorkerFactory(username="owner", membership__organisation=organisation)


@pytest.fixture
def colleague(db):
    """A worker of another organisation, who can be handed the case."""
    return WorkerFactory(username="colleague")


@pytest.fixture
def outsider(organisation):
    """A worker of the same organisation with nothing to do with the case."""
    return WorkerFactory(username="outsider", membership__organisation=organisation)


@pytest.fixture
def family_case(owner, municipality):
    family = services.family_create(
        actor=owner,
        name="Virtanen",
        municipality=municipality,
        members=[
            {"role": "guardian", "first_name": "Hanna", "last_name": "Virtanen"},
            {"role": "child", "first_name": "Aino", "last_name": "Virtanen"},
        ],
    )
    return family.cases.get()


@pytest.fixture(autouse=True)
def _audit_checkpoints_in_tmp(settings, tmp_path):
    """Checkpoint copies outside the database go to a fresh folder in every test."""
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "audit-checkpoints")


@pytest.fixture(autouse=True)
def _fresh_sign_in_rate_limits():
    """Sign-in rate limits count in the cache, which outlives each test's database transaction.

    (django-axes' lockout counts live in the database, so every test starts without them.)
    """
    cache.clear()
    yield
    cache.clear()
