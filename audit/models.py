"""The access and disclosure log (käyttöloki, luovutusloki): a hash chain of immutable events.

Change history of domain models comes from django-auditlog (audit/changes.py). These tables
are append-only at the database level (triggers installed by a migration).
"""

import uuid

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


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

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    # Who: plain ids, not foreign keys, so the log never blocks or follows deletions.
    user_id = models.UUIDField(null=True, blank=True)
    username = models.CharField(max_length=150, blank=True)
    organisation_id = models.UUIDField(null=True, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.NONE)
    # What.
    case_id = models.UUIDField(null=True, blank=True)
    family_id = models.UUIDField(null=True, blank=True)
    controller_id = models.UUIDField(
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

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    user_id = models.UUIDField(null=True, blank=True)
    username = models.CharField(max_length=150, blank=True)
    organisation_id = models.UUIDField(null=True, blank=True)
    role = models.CharField(
        max_length=20, choices=AccessEvent.Role.choices, default=AccessEvent.Role.NONE
    )
    case_id = models.UUIDField(null=True, blank=True)
    family_id = models.UUIDField(null=True, blank=True)
    controller_id = models.UUIDField(null=True, blank=True)
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

    class Meta:
        indexes = [models.Index(fields=["chain", "created_at"])]
        verbose_name = _("access event not yet sequenced")
        verbose_name_plural = _("access events not yet sequenced")

    def __str__(self):
        return f"{self.chain}#? {self.username} {self.action} {self.outcome}"


# The fields covered by an event's hash, in order. Changing this list breaks verification of
# existing chains: add a new version instead.
HASHED_FIELDS = [
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


class Checkpoint(models.Model):
    """A signed statement of a chain's head at one sequence number."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_checkpoint_unique_seq")
        ]

    def __str__(self):
        return f"checkpoint {self.chain}#{self.seq}"
