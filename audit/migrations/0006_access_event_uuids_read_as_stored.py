"""The access event's UUID columns become audit.models.StoredUUIDField: the same column type,
read without failing on a damaged value. State only: nothing in the database changes (on SQLite
an AlterField would remake the table and drop its append-only triggers)."""

import uuid

from django.db import migrations

import audit.models


def _field(**kwargs):
    return audit.models.StoredUUIDField(**kwargs)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_append_only_change_history_and_signed_records"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="accessevent",
                    name="id",
                    field=_field(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                *(
                    migrations.AlterField(
                        model_name="accessevent", name=name, field=_field(blank=True, null=True)
                    )
                    for name in ("user_id", "organisation_id", "case_id", "family_id")
                ),
                migrations.AlterField(
                    model_name="accessevent",
                    name="controller_id",
                    field=_field(
                        blank=True,
                        help_text="The organisation responsible for the case.",
                        null=True,
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
