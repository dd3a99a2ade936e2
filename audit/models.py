"""The access and disclosure log (käyttöloki, luovutusloki): a hash chain of immutable events.

Change history of domain models comes from django-auditlog (audit/changes.py). These tables
are append-only at the database level (triggers installed by a migration).
"""

import uuid

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64

# INSERT statements of `insert_rows`, by (table, rows in the statement).
_INSERT_SQL: dict = {}


def insert_rows(objs: list, *, using: str = "default") -> None:
    """Insert `objs` (unsaved, of one model, every value set in Python: no database defaults,
    no expressions) as `bulk_create` would, in fewer steps on SQLite.

    A request's access-log events (50 for a page of cases, 25 columns each) cost Django's
    insert compiler on SQLite some 25 000 Python calls, more than the statement costs the
    database; here the statement is built once per table and size, and each value is
    prepared by its own field exactly as `bulk_create` prepares it (`pre_save`, then
    `get_db_prep_save`), so the rows stored are the same. On PostgreSQL Django sends one
    INSERT … SELECT FROM UNNEST of one array per column, which costs less than this."""
    from django.db import connections

    if not objs:
        return
    connection = connections[using]
    model = type(objs[0])
    if connection.vendor != "sqlite":
        model._default_manager.using(using).bulk_create(objs)
        return
    meta = model._meta
    fields = meta.concrete_fields
    # SQLite's older builds take 999 parameters a statement: stay below that, as Django does.
    per_statement = max(1, 999 // len(fields))
    # A field's pre_save only reads the attribute, unless it stamps the time (auto_now).
    steps = [
        (
            field.get_db_prep_save,
            field.pre_save
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            else None,
            field.attname,
        )
        for field in fields
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(objs), per_statement):
            chunk = objs[start : start + per_statement]
            key = (meta.db_table, len(chunk))
            sql = _INSERT_SQL.get(key)
            if sql is None:
                quote = connection.ops.quote_name
                row = "(" + ", ".join(["%s"] * len(fields)) + ")"
                sql = _INSERT_SQL[key] = (
                    f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608 - names from the model
                    f"({', '.join(quote(f.column) for f in fields)}) "
                    f"VALUES {', '.join([row] * len(chunk))}"
                )
            cursor.execute(
                sql,
                [
                    prepare(pre_save(obj, True) if pre_save else getattr(obj, attname), connection)
                    for obj in chunk
                    for prepare, pre_save, attname in steps
                ],
            )
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using


class StoredUUIDField(models.UUIDField):
    """A UUID column whose value, when the database holds something that is not a UUID (a row
    damaged by hand: SQLite keeps UUIDs as text), is read as the text stored instead of failing
    the whole query, so the auditor's list still answers and shows it; verify names the row.

    Same column type as UUIDField; only the reading differs (the backend's UUID converter,
    chosen by the internal type, would raise).
    """

    def get_internal_type(self):
        return "CharField"

    def db_type(self, connection):
        return connection.data_types["UUIDField"]

    def rel_db_type(self, connection):
        return self.db_type(connection)

    def cast_db_type(self, connection):
        return self.db_type(connection)

    def from_db_value(self, value, expression, connection):
        if value is None or isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(value)
        except (TypeError, ValueError, AttributeError):
            return value


class Chain(models.Model):
    """The head of one named hash chain. Appends lock this row, so chains never fork and
    different chains (e.g. wellbeing areas) never wait for one another."""

    name = models.SlugField(primary_key=True, max_length=100)
    head_seq = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self):
        return f"{self.name} @ {self.head_seq}"

    @classmethod
    def locked_head(cls, name: str) -> "Chain":
        """The chain's head row, locked until the transaction ends (created on first use).

        Here rather than in audit.chain so that appending and checkpointing both lock the head
        without importing each other."""
        head = cls.objects.select_for_update().filter(name=name).first()
        if head is None:
            try:
                with transaction.atomic():
                    cls.objects.create(name=name, head_seq=0, head_hash=GENESIS_HASH)
            except IntegrityError:  # another server created it first
                pass
            head = cls.objects.select_for_update().get(name=name)
        return head


class AccessEvent(models.Model):
    """One read (or attempted read) of family or case data."""

    class Action(models.TextChoices):
        VIEW = "view", _("Viewed")
        LIST = "list", _("Listed")
        EXPORT = "export", _("Exported")
        SEARCH = "search", _("Searched")
        WRITE = "write", _("Attempted to change")

    class Outcome(models.TextChoices):
        ALLOWED = "allowed", _("Allowed")
        DENIED = "denied", _("Denied")

    class Role(models.TextChoices):
        RESPONSIBLE = "responsible", _("Responsible worker")
        MEMBER = "member", _("Network member")
        HANDOVER = "handover", _("Worker asked to take over")
        EMERGENCY = "emergency", _("Emergency access")
        GUARDIAN = "guardian", _("Guardian")
        AUDITOR = "auditor", _("Auditor")
        NONE = "none", _("No role on the case")

    id = StoredUUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    # Who: plain ids, not foreign keys, so the log never blocks or follows deletions.
    user_id = StoredUUIDField(null=True, blank=True)
    username = models.CharField(max_length=150, blank=True)
    organisation_id = StoredUUIDField(null=True, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.NONE)
    # What.
    case_id = StoredUUIDField(null=True, blank=True)
    family_id = StoredUUIDField(null=True, blank=True)
    controller_id = StoredUUIDField(
        null=True, blank=True, help_text=_("The organisation responsible for the case.")
    )
    resource = models.CharField(max_length=50)
    categories = models.JSONField(default=list)
    action = models.CharField(max_length=10, choices=Action.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    purpose = models.CharField(max_length=200, blank=True)
    emergency = models.BooleanField(default=False)
    # Disclosure: data recorded by these organisations was shown to `organisation_id`.
    disclosed_from = models.JSONField(default=list)
    consents = models.JSONField(default=list)
    # Where from.
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    # The statutory bases (consent.models.LegalBasis ids) that allowed a disclosure, beside the
    # consents (issue 16). Hashed only when not empty (OPTIONAL_HASHED_FIELDS).
    legal_bases = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_unique_seq")
        ]
        indexes = [
            models.Index(fields=["case_id", "created_at"]),
            models.Index(fields=["family_id", "created_at"]),
            models.Index(fields=["user_id", "created_at"]),
            models.Index(fields=["organisation_id", "created_at"]),
            models.Index(fields=["controller_id", "created_at"]),
            models.Index(fields=["created_at"]),
        ]
        verbose_name = _("access event")
        verbose_name_plural = _("access events")

    def __str__(self):
        return f"{self.chain}#{self.seq} {self.username} {self.action} {self.outcome}"

    @property
    def is_disclosure(self) -> bool:
        return bool(self.disclosed_from)


class PendingEvent(models.Model):
    """An access event committed by its request but not yet chained (the sequencer's intake).

    Requests only insert here, in their own transaction, and take no lock that other requests
    wait for; the sequencer (audit/sequencer.py) moves rows into AccessEvent, with seq and
    hashes, and deletes them here in the same transaction. Triggers refuse UPDATE, and DELETE
    of a row whose event (same id) is not in the chain, so an event can leave the intake only
    by being chained. The columns are AccessEvent's without seq, prev_hash and hash
    (tests/test_audit_sequencer.py keeps the two in step).
    """

    id = StoredUUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    user_id = StoredUUIDField(null=True, blank=True)
    username = models.CharField(max_length=150, blank=True)
    organisation_id = StoredUUIDField(null=True, blank=True)
    role = models.CharField(
        max_length=20, choices=AccessEvent.Role.choices, default=AccessEvent.Role.NONE
    )
    case_id = StoredUUIDField(null=True, blank=True)
    family_id = StoredUUIDField(null=True, blank=True)
    controller_id = StoredUUIDField(null=True, blank=True)
    resource = models.CharField(max_length=50)
    categories = models.JSONField(default=list)
    action = models.CharField(max_length=10, choices=AccessEvent.Action.choices)
    outcome = models.CharField(max_length=10, choices=AccessEvent.Outcome.choices)
    purpose = models.CharField(max_length=200, blank=True)
    emergency = models.BooleanField(default=False)
    disclosed_from = models.JSONField(default=list)
    consents = models.JSONField(default=list)
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    legal_bases = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["chain", "created_at"])]
        verbose_name = _("access event not yet sequenced")
        verbose_name_plural = _("access events not yet sequenced")

    def __str__(self):
        return f"{self.chain}#? {self.username} {self.action} {self.outcome}"


# The fields covered by an event's hash (every column but prev_hash, which is hashed in front,
# and the hash itself). Changing this list breaks verification of existing chains.
HASHED_FIELDS = [
    "id",
    "chain",
    "seq",
    "created_at",
    "user_id",
    "username",
    "organisation_id",
    "role",
    "case_id",
    "family_id",
    "controller_id",
    "resource",
    "categories",
    "action",
    "outcome",
    "purpose",
    "emergency",
    "disclosed_from",
    "consents",
    "request_id",
    "client_address",
]
# Columns added after chains were written: hashed only when their value is not empty, so every
# event written before (and every event without one) hashes as it always did.
OPTIONAL_HASHED_FIELDS = ["legal_bases"]


class Checkpoint(models.Model):
    """A signed statement of a chain's head at one sequence number.

    The signature covers every column but the signature itself (audit.checkpoints.message):
    the id, the chain, seq and head hash, the time it was made and the hash of the chain's
    previous checkpoint, so the checkpoints of a chain form a signed chain of their own."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    prev_checkpoint_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_checkpoint_unique_seq")
        ]

    def __str__(self):
        return f"checkpoint {self.chain}#{self.seq}"


class PurgeRecord(models.Model):
    """A signed retention purge: events first_seq..up_to_seq of a chain were deleted by
    `purge_audit`, cutting at the signed checkpoint `checkpoint_id` (at up_to_seq, whose head
    hash the first remaining event links to). Verify accepts a chain that starts after 1 only
    with such a record; nothing in an event row can stand in for it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=100)
    first_seq = models.BigIntegerField()
    up_to_seq = models.BigIntegerField()
    checkpoint_id = models.UUIDField()
    checkpoint_head_hash = models.CharField(max_length=64)
    operator = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["chain", "up_to_seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "up_to_seq"], name="audit_purge_unique_cut")
        ]

    def __str__(self):
        return f"purge {self.chain} {self.first_seq}..{self.up_to_seq}"


class ChangeDigest(models.Model):
    """A signed digest of the change-history rows (django-auditlog's LogEntry) sealed in one
    go: `seq` counts the digests, `digest` is the SHA-256 of their seals ("id:row hash" lines in
    id order), and the signature covers every column, the previous digest's hash included."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    seq = models.BigIntegerField(unique=True)
    rows = models.BigIntegerField()
    first_entry_id = models.BigIntegerField()
    last_entry_id = models.BigIntegerField()
    digest = models.CharField(max_length=64)
    prev_digest_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    created_at = models.DateTimeField(default=timezone.now)
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["seq"]

    def __str__(self):
        return f"change digest {self.seq}"


class ChangeSeal(models.Model):
    """The hash of one change-history row, as it was when sealed by digest `digest_seq`."""

    entry_id = models.BigIntegerField(primary_key=True)
    digest_seq = models.BigIntegerField(db_index=True)
    row_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["entry_id"]

    def __str__(self):
        return f"seal of change-history row {self.entry_id}"


class ChangeErasure(models.Model):
    """A signed erasure of one change-history row by the case retention purge (its hash
    stays, so the digest that sealed it still verifies)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    entry_id = models.BigIntegerField(unique=True)
    row_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)

    def __str__(self):
        return f"erasure of change-history row {self.entry_id}"
