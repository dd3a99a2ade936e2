"""Append-only triggers for the signed records of the access log and for the change history.

`audit_purgerecord`, `audit_changedigest`, `audit_changeseal` and `audit_changeerasure` refuse
every UPDATE and DELETE (and, on PostgreSQL, TRUNCATE of a non-empty table), as the access log
does (0002). So does django-auditlog's `auditlog_logentry`, except for the rows the case
retention purge erases (`audit.history.erase`): inside its transaction it puts a row
(chain = 'auditlog_logentry', up_to_seq = the row's id) into `audit_purgepermit` and removes it
before committing. For the other new tables a permit row naming the table lets rows go (only
tests use that, to empty tables after a transactional test).

On SQLite the previous migration remade `audit_checkpoint` (a new column), which drops its
triggers: they are installed again here.
"""

import importlib

from django.db import migrations

append_only = importlib.import_module("audit.migrations.0002_append_only_triggers")

SIGNED_TABLES = ["audit_purgerecord", "audit_changedigest", "audit_changeseal", "audit_changeerasure"]
HISTORY = "auditlog_logentry"
EVERYTHING = 2**62

SQLITE_TRIGGERS = """
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: UPDATE on {table} refused');
END;
---
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
FOR EACH ROW WHEN NOT EXISTS (
    SELECT 1 FROM audit_purgepermit WHERE audit_purgepermit.chain = '{table}' AND {permitted}
)
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: DELETE on {table} refused');
END;
"""

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change_of_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF TG_TABLE_NAME = 'auditlog_logentry' THEN
            IF EXISTS (
                SELECT 1 FROM audit_purgepermit
                WHERE audit_purgepermit.chain = TG_TABLE_NAME
                AND (audit_purgepermit.up_to_seq = OLD.id
                     OR audit_purgepermit.up_to_seq = 4611686018427387904)
            ) THEN
                RETURN OLD;
            END IF;
        ELSIF EXISTS (
            SELECT 1 FROM audit_purgepermit WHERE audit_purgepermit.chain = TG_TABLE_NAME
        ) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
"""

POSTGRES_TRIGGERS = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change_of_record();
---
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();
"""


def _permitted(table: str) -> str:
    if table == HISTORY:
        return f"(audit_purgepermit.up_to_seq = OLD.id OR audit_purgepermit.up_to_seq = {EVERYTHING})"
    return "1"


def trigger_statements(vendor: str) -> list[str]:
    tables = [*SIGNED_TABLES, HISTORY]
    if vendor == "sqlite":
        return [
            sql
            for table in tables
            for sql in append_only._statements(
                SQLITE_TRIGGERS, table=table, permitted=_permitted(table)
            )
        ]
    statements = [POSTGRES_FUNCTION.strip()]
    return statements + [
        sql for table in tables for sql in append_only._statements(POSTGRES_TRIGGERS, table=table)
    ]


def drop_trigger_statements(vendor: str) -> list[str]:
    template = append_only.SQLITE_DROP if vendor == "sqlite" else append_only.POSTGRES_DROP
    return [
        sql
        for table in [*SIGNED_TABLES, HISTORY]
        for sql in append_only._statements(template, table=table)
    ]


def install(apps, schema_editor):
    vendor = append_only._vendor(schema_editor)
    statements = []
    if vendor == "sqlite":  # audit_checkpoint was remade by the previous migration
        statements += append_only.drop_trigger_statements(vendor)
        statements += append_only.trigger_statements(vendor)
    append_only._execute(schema_editor, statements + trigger_statements(vendor))


def uninstall(apps, schema_editor):
    vendor = append_only._vendor(schema_editor)
    statements = drop_trigger_statements(vendor)
    if vendor == "postgresql":
        statements.append("DROP FUNCTION IF EXISTS audit_refuse_change_of_record()")
    append_only._execute(schema_editor, statements)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_signed_checkpoint_chain_purge_records_change_seals"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
