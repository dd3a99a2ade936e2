"""Change history (django-auditlog): who changed what, with the identity code masked completely."""

import pytest
from auditlog.models import LogEntry
from django.db import connection

from cases import services
from cases.identity_code import blind_index
from cases.models import Case, Family, FamilyMember, Municipality
from tests.factories import MunicipalityFactory

pytestmark = pytest.mark.django_db

CODE = "131052-308T"
OTHER_CODE = "010101A123N"
FAMILIES = "/api/v1/families/"


def family_body(municipality, *, name="Korhonen", identity_code=CODE):
    return {
        "name": name,
        "municipality": str(municipality.pk),
        "members": [
            {
                "role": "guardian",
                "first_name": "Maija",
                "last_name": "Korhonen",
                "identity_code": identity_code,
            },
            {"role": "child", "first_name": "Eino", "last_name": "Korhonen"},
        ],
    }


def create_family(client, municipality, **body):
    response = client.post(FAMILIES, family_body(municipality, **body), format="json")
    assert response.status_code == 201, response.content
    return Family.objects.get(pk=response.json()["id"])


def entries_for(model, action=None):
    entries = LogEntry.objects.get_for_model(model)
    if action is not None:
        entries = entries.filter(action=action)
    return entries


def raw_log_rows() -> str:
    """Every column of every change-history row, as the database holds them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM auditlog_logentry")
        return " ".join(str(value) for row in cursor.fetchall() for value in row)


def assert_code_nowhere_in_history(code):
    rows = raw_log_rows()
    for part in (code, code.lower(), code[:6], code[7:], blind_index(code)):
        assert part not in rows
    for entry in LogEntry.objects.all():
        assert "identity_code_index" not in (entry.changes or {})
        assert code not in entry.changes_str
        assert code[:6] not in entry.changes_text


def test_creating_a_family_through_the_api_records_its_creation_with_the_token_user(
    api, owner, municipality
):
    owner.email = "owner@example.fi"
    owner.save(update_fields=["email"])
    family = create_family(api.as_user(owner), municipality)
    case = family.cases.get()
    members = list(family.members.all())

    [family_entry] = entries_for(Family, LogEntry.Action.CREATE)
    assert family_entry.object_pk == str(family.pk)
    assert family_entry.changes["name"] == ["None", "Korhonen"]
    [case_entry] = entries_for(Case, LogEntry.Action.CREATE)
    assert case_entry.object_pk == str(case.pk)
    member_entries = entries_for(FamilyMember, LogEntry.Action.CREATE)
    assert {entry.object_pk for entry in member_entries} == {str(m.pk) for m in members}

    for entry in [family_entry, case_entry, *member_entries]:
        assert entry.actor == owner
        assert entry.actor_email == "owner@example.fi"
        assert entry.remote_addr == "127.0.0.1"


def test_each_request_records_its_own_user_as_the_actor(api, owner, colleague, municipality):
    create_family(api.as_user(owner), municipality, name="Korhonen")
    create_family(api.as_user(colleague), municipality, name="Nieminen", identity_code="")

    korhonen = Family.objects.get(name="Korhonen")
    nieminen = Family.objects.get(name="Nieminen")
    assert entries_for(Family).get(object_pk=str(korhonen.pk)).actor == owner
    assert entries_for(Family).get(object_pk=str(nieminen.pk)).actor == colleague
    assert entries_for(Case).get(object_pk=str(nieminen.cases.get().pk)).actor == colleague


def test_a_session_user_is_recorded_as_the_actor_too(api, owner, municipality):
    api.force_login(owner)
    family = create_family(api, municipality)
    assert entries_for(Family).get(object_pk=str(family.pk)).actor == owner


def test_a_change_made_outside_a_request_has_no_actor(owner, municipality):
    family = services.family_create(actor=owner, name="Korhonen", municipality=municipality)
    entry = entries_for(Family).get(object_pk=str(family.pk))
    assert entry.actor is None


def test_updating_a_family_records_the_changed_field_and_the_actor(api, owner, municipality):
    client = api.as_user(owner)
    family = create_family(client, municipality)
    other = MunicipalityFactory(name="Padasjoki")

    response = client.patch(
        f"{FAMILIES}{family.pk}/", {"name": "Korhonen-Virtanen", "municipality": str(other.pk)}
    )

    assert response.status_code == 200
    [entry] = entries_for(Family, LogEntry.Action.UPDATE)
    assert entry.object_pk == str(family.pk)
    assert entry.actor == owner
    assert entry.changes["name"] == ["Korhonen", "Korhonen-Virtanen"]
    assert entry.changes["municipality"] == [str(municipality.pk), str(other.pk)]
    assert set(entry.changes) == {"name", "municipality"}


def test_an_update_that_changes_nothing_records_nothing(api, owner, municipality):
    client = api.as_user(owner)
    family = create_family(client, municipality)

    response = client.patch(f"{FAMILIES}{family.pk}/", {"name": "Korhonen"})

    assert response.status_code == 200
    assert not entries_for(Family, LogEntry.Action.UPDATE).exists()


def test_the_identity_code_is_masked_completely_when_a_member_is_created(api, owner, municipality):
    family = create_family(api.as_user(owner), municipality)
    guardian = family.members.get(role="guardian")
    child = family.members.get(role="child")

    guardian_entry = entries_for(FamilyMember).get(object_pk=str(guardian.pk))
    assert guardian_entry.changes["identity_code"] == ["None", "********"]
    assert "identity_code_index" not in guardian_entry.changes
    child_entry = entries_for(FamilyMember).get(object_pk=str(child.pk))
    assert child_entry.changes["identity_code"] == ["None", ""]
    assert_code_nowhere_in_history(CODE)


def test_the_identity_code_is_masked_completely_when_it_changes(api, owner, municipality):
    family = create_family(api.as_user(owner), municipality)
    guardian = family.members.get(role="guardian")

    guardian.identity_code = OTHER_CODE
    guardian.save(update_fields=["identity_code"])

    [entry] = entries_for(FamilyMember, LogEntry.Action.UPDATE)
    assert entry.object_pk == str(guardian.pk)
    assert entry.changes == {"identity_code": ["********", "********"]}
    assert_code_nowhere_in_history(CODE)
    assert_code_nowhere_in_history(OTHER_CODE)


def test_saving_a_member_without_changing_the_code_records_no_code_change(api, owner, municipality):
    family = create_family(api.as_user(owner), municipality)
    guardian = family.members.get(role="guardian")

    guardian.first_name = "Maija-Liisa"
    guardian.save()

    [entry] = entries_for(FamilyMember, LogEntry.Action.UPDATE)
    assert entry.changes == {"first_name": ["Maija", "Maija-Liisa"]}


def test_deleting_a_member_records_a_deletion_with_the_code_masked(api, owner, municipality):
    family = create_family(api.as_user(owner), municipality)
    guardian = family.members.get(role="guardian")
    guardian_pk = str(guardian.pk)

    guardian.delete()

    [entry] = entries_for(FamilyMember, LogEntry.Action.DELETE)
    assert entry.object_pk == guardian_pk
    assert entry.changes["first_name"] == ["Maija", "None"]
    assert entry.changes["identity_code"] == ["********", "None"]
    assert "identity_code_index" not in entry.changes
    assert_code_nowhere_in_history(CODE)


def test_a_worker_accounts_password_hash_is_not_recorded(owner):
    owner.set_password("a-new-password-2026")
    owner.save()

    assert (
        not LogEntry.objects.get_for_model(type(owner))
        .filter(action=LogEntry.Action.UPDATE)
        .exists()
    )
    assert owner.password not in raw_log_rows()


def test_reference_data_changes_are_recorded(municipality):
    municipality.name = "Asikkala kunta"
    municipality.save(update_fields=["name"])

    [entry] = entries_for(Municipality, LogEntry.Action.UPDATE)
    assert entry.changes == {"name": ["Asikkala", "Asikkala kunta"]}
