"""factory-boy factories for domain objects; tests build exactly the data they talk about."""

import factory
from django.contrib.auth.hashers import make_password

from cases import models

PASSWORD = "test-pass-2026"
_HASHED = make_password(PASSWORD)


class AreaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Area

    code = factory.Sequence(lambda n: f"area-{n}")
    name = factory.Sequence(lambda n: f"Area {n}")


class MunicipalityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Municipality

    code = factory.Sequence(lambda n: f"municipality-{n}")
    name = factory.Sequence(lambda n: f"Municipality {n}")


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Organisation

    code = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Sequence(lambda n: f"Organisation {n}")
    kind = models.Organisation.Kind.WELLBEING_AREA


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    password = _HASHED


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.OrganisationMembership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = models.OrganisationMembership.Role.WORKER
    title = "Social worker"


class WorkerFactory(UserFactory):
    """A user with one active worker membership (pass membership__organisation=... to choose)."""

    membership = factory.RelatedFactory(MembershipFactory, factory_related_name="user")


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Service

    organisation = factory.SubFactory(OrganisationFactory)
    name_fi = factory.Sequence(lambda n: f"Palvelu {n}")
    name_en = factory.Sequence(lambda n: f"Service {n}")
    category = models.Service.Category.FAMILY_SUPPORT


def access_of(user, case):
    """The user's access to `case` now, as `consent.policy.authorize` gives it to a service."""
    from consent import policy

    return policy.access_for(user, [case])[case.pk]
