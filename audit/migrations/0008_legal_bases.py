"""The statutory bases of a disclosure (issue 16): `legal_bases` on the access event and on the
sequencer's intake.

Added with a plain ALTER TABLE … ADD COLUMN with a constant default, on both databases: on
SQLite Django's AddField of a column with a default remakes the table, which would drop the
append-only triggers of audit_accessevent (0002) and of the intake (0007); ALTER TABLE keeps
them, and neither database rewrites a row (no UPDATE trigger fires). The state is Django's
AddField. Events written before have `[]`, which the hash leaves out (audit.hashing), so every
chain verifies as before.
"""

from django.db import migrations, models

TABLES = ["audit_accessevent", "audit_pendingevent"]


def _add(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for table in TABLES:
        if postgres:
            sql = f"ALTER TABLE {table} ADD COLUMN legal_bases jsonb NOT NULL DEFAULT '[]'::jsonb"
        else:
            sql = (
                f"ALTER TABLE {table} ADD COLUMN legal_bases text NOT NULL DEFAULT '[]' "
                "CHECK ((JSON_VALID(legal_bases) OR legal_bases IS NULL))"
            )
        schema_editor.execute(sql, params=None)


def _drop(apps, schema_editor):
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN legal_bases", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_access_event_intake"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_add, _drop)],
            state_operations=[
                migrations.AddField(
                    model_name="accessevent",
                    name="legal_bases",
                    field=models.JSONField(blank=True, default=list),
                ),
                migrations.AddField(
                    model_name="pendingevent",
                    name="legal_bases",
                    field=models.JSONField(blank=True, default=list),
                ),
            ],
        ),
    ]
