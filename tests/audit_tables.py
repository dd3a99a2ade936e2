"""Emptying the append-only audit tables after a transactional test, before Django's flush
(their triggers refuse it): under purge permits inside one transaction, as the retention purges
remove rows."""

from django.db import connection, transaction

# Tables whose DELETE trigger lets rows go under a permit naming the table (migration
# 0005_append_only_change_history_and_signed_records); 2**62 stands for every row.
SIGNED_TABLES = [
    "auditlog_logentry",
    "audit_purgerecord",
    "audit_changedigest",
    "audit_changeseal",
    "audit_changeerasure",
]


def empty_audit_tables() -> None:
    from audit.models import AccessEvent, Checkpoint, PendingEvent
    from audit.sequencer import sequence_pending

    if "audit_purgepermit" not in connection.introspection.table_names():
        return  # no triggers here: the flush empties the tables
    # The intake lets go of chained events only: what waits there is chained first.
    for chain in set(PendingEvent.objects.values_list("chain", flat=True)):
        sequence_pending(chain)
    with transaction.atomic(), connection.cursor() as cursor:
        chains = set(AccessEvent.objects.values_list("chain", flat=True))
        chains |= set(Checkpoint.objects.values_list("chain", flat=True))
        permits = [[chain, 2**62] for chain in chains] + [[t, 2**62] for t in SIGNED_TABLES]
        cursor.executemany(
            "INSERT INTO audit_purgepermit (chain, up_to_seq) VALUES (%s, %s)", permits
        )
        cursor.execute("DELETE FROM audit_accessevent")
        cursor.execute("DELETE FROM audit_checkpoint")
        for table in SIGNED_TABLES:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        cursor.execute("DELETE FROM audit_purgepermit")
