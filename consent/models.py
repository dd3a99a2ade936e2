"""Consents: a family's permission to share data categories of their case with organisations.

A `Consent` is created by a request and then changed only by appending immutable
`ConsentEvent`s; its `state` column is a projection of those events kept by consent.services.
"""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from koordinointi.vocabulary import Category, Sector, StatutoryBasis, statute_of

__all__ = ["Category", "Consent", "ConsentEvent", "LegalBasis"]


class Consent(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for the family")
        ACTIVE = "active", _("Given")
        REFUSED = "refused", _("Refused")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        EXPIRED = "expired", _("Expired")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="consents")
    recipients = models.ManyToManyField(
        "cases.Organisation", related_name="consents", verbose_name=_("recipients")
    )
    categories = models.JSONField(_("data categories"), default=list)
    purpose_code = models.CharField(_("purpose code"), max_length=50)
    purpose = models.TextField(_("purpose"))
    message = models.TextField(_("message to the family"), blank=True)
    notice_version = models.CharField(_("notice version"), max_length=50)
    notice_text = models.TextField(_("notice shown to the family"))
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField()
    requested_by = models.ForeignKey("cases.User", on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # A sector-wide consent (issue 16): its recipients are every organisation of the sector in
    # the family's area, named when it was requested (consent.services.consent_request).
    sector = models.CharField(_("sector"), max_length=20, choices=Sector.choices, blank=True)

    class Meta:
        ordering = ["-requested_at", "id"]
        indexes = [models.Index(fields=["case", "state"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__gt=models.F("valid_from")),
                name="consent_period_not_empty",
            )
        ]
        verbose_name = _("consent")
        verbose_name_plural = _("consents")

    def __str__(self):
        return f"{self.case_id}: {', '.join(self.categories)} ({self.state})"

    def effective_state(self, now=None) -> str:
        """The state as of now: a consent past its end date is expired even before any job ran."""
        now = now or timezone.now()
        if self.state in (self.State.ACTIVE, self.State.PENDING) and self.valid_until <= now:
            return self.State.EXPIRED
        return self.state

    def is_in_force(self, now=None) -> bool:
        now = now or timezone.now()
        return self.effective_state(now) == self.State.ACTIVE and self.valid_from <= now


class ImmutableError(Exception):
    pass


class ConsentEvent(models.Model):
    """One decision or fact about a consent. Never changed, never deleted."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        GRANTED = "granted", _("Granted")
        REFUSED = "refused", _("Refused")
        REVOKED = "revoked", _("Withdrawn")
        EXPIRED = "expired", _("Expired")
        CHILD_VIEW = "child_view", _("Child's view recorded")
        CHILD_REFUSED = "child_refused", _("Child refused disclosure of notes about them")

    class Channel(models.TextChoices):
        PORTAL = "portal", _("Family portal")
        API = "api", _("Family's own client")
        ON_BEHALF = "on_behalf", _("Recorded by a worker on the family's behalf")
        PAPER = "paper", _("Paper form recorded by a worker")
        SYSTEM = "system", _("System")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    actor = models.ForeignKey(
        "cases.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    grantor = models.ForeignKey(
        "cases.FamilyMember",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The family member who decided (a guardian, or the child)."),
    )
    subject = models.ForeignKey(
        "cases.FamilyMember",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The family member the decision is about, where it is about one."),
    )
    notice_version = models.CharField(max_length=50, blank=True)
    notice_text = models.TextField(blank=True)
    statement = models.TextField(_("statement"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    receipt = models.TextField(_("signed receipt (compact JWS)"), blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")

    def __str__(self):
        return f"{self.consent_id}: {self.kind}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableError("Consent events are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError("Consent events are immutable.")


# --- Legal bases (issue 16) ---------------------------------------------------------------------


class LegalBasis(models.Model):
    """A statutory basis that allows disclosing data categories of a case to an organisation
    without consent (a child-welfare need assessment, say), recorded by the responsible worker.
    The policy treats one in force like a consent in force. The family sees it in the portal
    unless the worker recorded why telling them now would endanger the child."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="legal_bases")
    organisation = models.ForeignKey(
        "cases.Organisation",
        on_delete=models.PROTECT,
        related_name="legal_bases",
        verbose_name=_("organisation"),
    )
    categories = models.JSONField(_("data categories"), default=list)
    basis = models.CharField(_("legal basis"), max_length=50, choices=StatutoryBasis.choices)
    reason = models.TextField(_("why the law allows the disclosure"))
    recorded_by = models.ForeignKey("cases.User", on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"))
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_by = models.ForeignKey(
        "cases.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withheld_from_family = models.BooleanField(_("withheld from the family"), default=False)
    withheld_reason = models.TextField(
        _("why telling the family now would endanger the child"), blank=True
    )

    class Meta:
        ordering = ["-recorded_at", "id"]
        indexes = [models.Index(fields=["case", "ended_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__gt=models.F("valid_from")),
                name="legal_basis_period_not_empty",
            ),
            models.CheckConstraint(
                condition=models.Q(withheld_from_family=False) | ~models.Q(withheld_reason=""),
                name="legal_basis_withheld_with_reason",
            ),
        ]
        verbose_name = _("legal basis")
        verbose_name_plural = _("legal bases")

    def __str__(self):
        return f"{self.case_id}: {self.basis} for {self.organisation_id}"

    @property
    def statute(self) -> str:
        return statute_of(self.basis)

    def category_labels(self) -> list[str]:
        return [str(Category(c).label) for c in self.categories if c in Category.values]

    def is_in_force(self, now=None) -> bool:
        now = now or timezone.now()
        ended = self.ended_at is not None and self.ended_at <= now
        return not ended and self.valid_from <= now < self.valid_until
