"""Make the access log and its checkpoints append-only in the database itself.

Triggers refuse every UPDATE and DELETE of `audit_accessevent` and `audit_checkpoint` (and, on
PostgreSQL, TRUNCATE of a non-empty table), whoever runs it: the ORM, raw SQL or a database
console. The chain head table (`audit_chain`) stays updatable: appends move it.

The one exception is the retention purge (`manage.py purge_audit`): inside its transaction it
inserts a row (chain, up_to_seq) into `audit_purgepermit`, which lets rows of that chain up to
that sequence number be deleted, and removes the row before committing, so no other session
ever sees it. The permit table has no model on purpose: nothing in the app writes to it.

On SQLite, a later migration that remakes one of these tables (SQLite alters many columns by
copying the table) drops its triggers with it: such a migration must call `install` again.
"""

from django.db import migrations

PERMIT_TABLE = """
CREATE TABLE audit_purgepermit (
    chain varchar(100) NOT NULL,
    up_to_seq bigint NOT NULL
)
"""

TABLES = ["audit_accessevent", "audit_checkpoint"]

SQLITE_TRIGGERS = """
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: UPDATE on {table} refused');
END;
---
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
FOR EACH ROW WHEN NOT EXISTS (
    SELECT 1 FROM audit_purgepermit
    WHERE audit_purgepermit.chain = OLD.chain AND OLD.seq <= audit_purgepermit.up_to_seq
)
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: DELETE on {table} refused');
END;
"""

SQLITE_DROP = """
DROP TRIGGER IF EXISTS {table}_no_update;
---
DROP TRIGGER IF EXISTS {table}_no_delete;
"""

POSTGRES_FUNCTIONS = """
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM audit_purgepermit
        WHERE audit_purgepermit.chain = OLD.chain AND OLD.seq <= audit_purgepermit.up_to_seq
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
---
CREATE FUNCTION audit_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    has_rows boolean;
BEGIN
    -- Emptying an empty table destroys nothing (and is how Django's test runner resets).
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME)
        INTO has_rows;
    IF has_rows THEN
        RAISE EXCEPTION 'audit log is append-only: TRUNCATE on % refused', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$;
"""

POSTGRES_TRIGGERS = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
---
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();
"""

POSTGRES_DROP = """
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
---
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
"""

POSTGRES_DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS audit_refuse_change();
---
DROP FUNCTION IF EXISTS audit_refuse_truncate();
"""


def _statements(template: str, **names) -> list[str]:
    return [part.strip().format(**names) for part in template.split("---") if part.strip()]


def _vendor(schema_editor) -> str:
    vendor = schema_editor.connection.vendor
    if vendor not in {"sqlite", "postgresql"}:
        raise NotImplementedError(
            f"The audit log's append-only triggers exist for SQLite and PostgreSQL, not {vendor}."
        )
    return vendor


def _execute(schema_editor, statements: list[str]) -> None:
    for sql in statements:
        # No parameters: the SQL is fixed, and '%' in it is not a placeholder.
        schema_editor.execute(sql, params=None)


def trigger_statements(vendor: str) -> list[str]:
    template = SQLITE_TRIGGERS if vendor == "sqlite" else POSTGRES_TRIGGERS
    return [sql for table in TABLES for sql in _statements(template, table=table)]


def drop_trigger_statements(vendor: str) -> list[str]:
    template = SQLITE_DROP if vendor == "sqlite" else POSTGRES_DROP
    return [sql for table in TABLES for sql in _statements(template, table=table)]


def install(apps, schema_editor):
    vendor = _vendor(schema_editor)
    statements = [PERMIT_TABLE.strip()]
    if vendor == "postgresql":
        statements += _statements(POSTGRES_FUNCTIONS)
    _execute(schema_editor, statements + trigger_statements(vendor))


def uninstall(apps, schema_editor):
    vendor = _vendor(schema_editor)
    statements = drop_trigger_statements(vendor)
    if vendor == "postgresql":
        statements += _statements(POSTGRES_DROP_FUNCTIONS)
    _execute(schema_editor, [*statements, "DROP TABLE IF EXISTS audit_purgepermit"])


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
