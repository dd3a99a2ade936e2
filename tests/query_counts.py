"""Queries every request pays, named so that each pinned count reads as a sum of its parts."""

# The request's own transaction (ATOMIC_REQUESTS): a savepoint and its release in tests.
REQUEST = 2
# Appending a page's access-log events: savepoint, lock the chain head, one bulk insert,
# move the head, release.
ACCESS_LOG = 5
# The same in background sequencing (the default on PostgreSQL): one insert into the intake,
# no lock, no savepoint; the sequencer chains the events in its own transactions.
ACCESS_LOG_INTAKE = 1
