"""factory-boy factories for domain objects; tests build exactly the data they talk about."""

import datetime

import factory
from django.contrib.auth.hashers import make_password
from django.utils import timezone

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


# --- The catalogue (issue 17): the guide's and HSDS's objects -----------------------------------


class TaxonomyTermFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.TaxonomyTerm

    code = factory.Sequence(lambda n: f"term-{n}")
    name_fi = factory.Sequence(lambda n: f"Termi {n}")


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Location

    organisation = factory.SubFactory(OrganisationFactory)
    name_fi = factory.Sequence(lambda n: f"Toimipiste {n}")


class ServiceAtLocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ServiceAtLocation

    service = factory.SubFactory(ServiceFactory)
    location = factory.SubFactory(
        LocationFactory, organisation=factory.SelfAttribute("..service.organisation")
    )


class ScheduleFactory(factory.django.DjangoModelFactory):
    """Opening hours; give one of service, location or service_at_location."""

    class Meta:
        model = models.Schedule

    byday = "MO,TU,WE,TH,FR"
    opens_at = datetime.time(8)
    closes_at = datetime.time(16)


class ContactFactory(factory.django.DjangoModelFactory):
    """A contact; give one of organisation, service or location."""

    class Meta:
        model = models.Contact

    name = factory.Sequence(lambda n: f"Yhteyshenkilö {n}")


class PhoneFactory(factory.django.DjangoModelFactory):
    """A phone; give one of organisation, service, location or contact."""

    class Meta:
        model = models.Phone

    number = factory.Sequence(lambda n: f"+358 40 {n:07d}")


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Activity

    organisation = factory.SubFactory(OrganisationFactory)
    location = factory.SubFactory(
        LocationFactory,
        organisation=factory.SelfAttribute("..organisation"),
        is_meeting_place=True,
    )
    kind = models.Activity.Kind.FAMILY_CAFE
    name_fi = factory.Sequence(lambda n: f"Perhekahvila {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() + datetime.timedelta(days=1))
    ends_at = factory.LazyAttribute(lambda a: a.starts_at + datetime.timedelta(hours=2))


def catalogue_entry(**service_fields) -> models.Service:
    """A catalogue service with one of each of its parts: a location (with opening hours and a
    phone) where it is given (with opening hours there), its own opening hours, a contact with
    a phone, a phone, a taxonomy term and a language: what a query-count pin needs."""
    service = ServiceFactory(**service_fields)
    at = ServiceAtLocationFactory(service=service)
    ScheduleFactory(location=at.location)
    PhoneFactory(location=at.location)
    ScheduleFactory(service_at_location=at)
    ScheduleFactory(service=service)
    PhoneFactory(contact=ContactFactory(service=service))
    PhoneFactory(service=service)
    service.taxonomy_terms.add(TaxonomyTermFactory())
    models.ServiceLanguage.objects.create(service=service, language="fi")
    return service
