"""Writes of the service catalogue (issue 17): organisations keep their own entries (services,
locations, services at locations, opening hours, contacts, phones, open activities), coordinators
every organisation's and the taxonomy. Every decision is consent/policy.py's; each write is one
transaction, validated by the model before it is saved."""

from django.core.exceptions import PermissionDenied
from django.db import models, transaction

from cases.models import Service, ServiceLanguage, TaxonomyTerm, User
from consent import policy


def _require(actor: User, entry) -> None:
    if not policy.may_keep_catalogue_entry(actor, entry):
        raise PermissionDenied


@transaction.atomic
def service_save(*, actor: User, data: dict, service: Service | None = None) -> Service:
    """Create or change a catalogue service: its fields, municipalities, languages and
    taxonomy terms. A service is never deleted (referrals name it): `is_active` false takes it
    out of the catalogue."""
    data = dict(data)
    municipalities = data.pop("municipalities", None)
    languages = data.pop("languages", None)
    terms = data.pop("taxonomy_terms", None)
    service = service or Service()
    for name, value in data.items():
        setattr(service, name, value)
    _require(actor, service)
    service.full_clean()
    service.save()
    if municipalities is not None:
        service.municipalities.set(municipalities)
    if terms is not None:
        service.taxonomy_terms.set(terms)
    if languages is not None:
        service.languages.exclude(language__in=languages).delete()
        have = set(service.languages.values_list("language", flat=True))
        ServiceLanguage.objects.bulk_create(
            [
                ServiceLanguage(service=service, language=code)
                for code in sorted(set(languages) - have)
            ]
        )
    return service


@transaction.atomic
def entry_save(*, actor: User, model: type[models.Model], data: dict, entry=None):
    """Create or change one entry of `model` (a location, a service at a location, opening
    hours, a contact, a phone, an activity) that the actor keeps, before and after the change."""
    entry = entry or model()
    for name, value in data.items():
        setattr(entry, name, value)
    _require(actor, entry)
    entry.full_clean()
    entry.save()
    return entry


@transaction.atomic
def entry_delete(*, actor: User, entry) -> None:
    """Delete an entry the actor keeps (opening hours, contacts, phones, services at
    locations; locations and activities are taken out by `is_active` and `is_cancelled`)."""
    _require(actor, entry)
    entry.delete()


@transaction.atomic
def taxonomy_term_save(*, actor: User, data: dict, term: TaxonomyTerm | None = None):
    """Create or change a term of the taxonomy (coordinators)."""
    if not policy.may_keep_taxonomy(actor):
        raise PermissionDenied
    term = term or TaxonomyTerm()
    for name, value in data.items():
        setattr(term, name, value)
    term.full_clean()
    term.save()
    return term
