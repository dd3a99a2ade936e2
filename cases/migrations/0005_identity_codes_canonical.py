"""Identity codes through python-stdnum, in one canonical form (issue 15).

Rows written before this stored what was typed: a code with full-width or other look-alike
digits was kept as such, with a blind index of its own, so that a lookup by the ASCII code did
not find the person. This stores each code in its canonical form and re-indexes it. A code that
is no valid code even then is left as it is (the count is printed, never the code)."""

from django.db import migrations

import cases.identity_code


def canonical_codes(apps, schema_editor):
    from cases.identity_code import blind_index, repaired_identity_code

    FamilyMember = apps.get_model("cases", "FamilyMember")
    changed = invalid = 0
    rows = FamilyMember.objects.exclude(identity_code="").order_by("pk")
    for pk, code, index in rows.values_list("pk", "identity_code", "identity_code_index"):
        repaired = repaired_identity_code(code)
        if repaired is None:
            invalid += 1
            continue
        expected = blind_index(repaired)
        if repaired != code or index != expected:
            FamilyMember.objects.filter(pk=pk).update(
                identity_code=repaired, identity_code_index=expected
            )
            changed += 1
    if changed or invalid:
        print(f"\n  identity codes: {changed} re-indexed, {invalid} not valid (left as they were)")


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0004_organisation_note_category"),
    ]

    operations = [
        migrations.AlterField(
            model_name="familymember",
            name="identity_code",
            field=cases.identity_code.EncryptedTextField(
                blank=True,
                validators=[cases.identity_code.validate_identity_code_or_temporary],
                verbose_name="personal identity code",
            ),
        ),
        migrations.RunPython(canonical_codes, migrations.RunPython.noop, elidable=True),
    ]
