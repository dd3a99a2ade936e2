"""The case domain: areas, organisations, services, workers, families, cases and handovers."""

import uuid
from typing import Literal

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from cases.identity_code import (
    EncryptedTextField,
    blind_index,
    is_temporary_identity_code,
    normalise_identity_code,
    validate_identity_code_or_temporary,
)
from koordinointi.vocabulary import Category, view_permission


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)


class Area(models.Model):
    """A family-centre area (perhekeskusalue)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        ordering = ["name"]
        verbose_name = _("family-centre area")
        verbose_name_plural = _("family-centre areas")

    def __str__(self):
        return self.name


class Municipality(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_sv = models.CharField(_("name in Swedish"), max_length=200, blank=True)
    # Lahti, for one, belongs to three family-centre areas.
    areas = models.ManyToManyField(
        Area, related_name="municipalities", blank=True, verbose_name=_("areas")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("municipality")
        verbose_name_plural = _("municipalities")

    def __str__(self):
        return self.name


class Organisation(models.Model):
    """An actor at the level of one register unit."""

    class Kind(models.TextChoices):
        WELLBEING_AREA = "wellbeing_area", _("Wellbeing services county service")
        MUNICIPALITY = "municipality", _("Municipal service")
        NGO = "ngo", _("Non-governmental organisation")
        PARISH = "parish", _("Parish")
        KELA = "kela", _("Kela")
        PRIVATE = "private", _("Private provider")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.SlugField(_("code"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    area = models.ForeignKey(
        Area, on_delete=models.PROTECT, null=True, blank=True, related_name="organisations"
    )
    municipality = models.ForeignKey(
        Municipality,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="organisations",
    )
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    # The public guide and HSDS 3.0 `organization` (issue 17).
    url = models.URLField(_("web site"), blank=True)
    description = models.TextField(_("description"), blank=True)
    note_category = models.CharField(
        _("note category"),
        max_length=30,
        choices=Category.choices,
        blank=True,
        help_text=_(
            "The category of this organisation's own records: its workers write notes in it, "
            "and in the categories a consent names for the organisation."
        ),
    )
    # The organisation's own OpenID Provider for its workers (README "Workers' sign-in").
    oidc_issuer = models.URLField(
        _("identity provider (issuer)"),
        blank=True,
        help_text=_("The issuer URL of the organisation's OpenID Provider; empty: none."),
    )
    oidc_client_id = models.CharField(_("client id at the provider"), max_length=200, blank=True)
    oidc_client_secret = EncryptedTextField(_("client secret at the provider"), blank=True)
    oidc_email_domains = models.CharField(
        _("e-mail domains of its workers"),
        max_length=500,
        blank=True,
        help_text=_("Comma separated, e.g. lahti.fi: a worker may give their domain to sign in."),
    )
    oidc_worker_claim = models.CharField(
        _("claim that identifies the worker"),
        max_length=100,
        default="email",
        help_text=_(
            "email: the account's e-mail address; any other claim (e.g. an employee id): the "
            "membership's identifier at the provider."
        ),
    )
    oidc_api_audience = models.CharField(
        _("audience of access tokens for this API"),
        max_length=300,
        blank=True,
        help_text=_("The aud the provider puts in access tokens for this API; empty: none."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self):
        return self.name


class OrganisationMembership(models.Model):
    """A user's place in an organisation: a worker, an auditor or a coordinator."""

    class Role(models.TextChoices):
        WORKER = "worker", _("Worker")
        AUDITOR = "auditor", _("Auditor")
        COORDINATOR = "coordinator", _("Coordinator")
        # Takes the contact requests of families without a case (issue 17, cases/intake.py).
        INTAKE = "intake", _("Intake worker")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.WORKER)
    title = models.CharField(_("title"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    provider_identifier = models.CharField(
        _("identifier at the organisation's provider"),
        max_length=200,
        blank=True,
        help_text=_(
            "The value of the organisation's worker claim for this worker, when the claim is "
            "not the e-mail address."
        ),
    )

    class Meta:
        ordering = ["organisation__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation", "role"], name="unique_membership_role"
            )
        ]
        indexes = [models.Index(fields=["user", "is_active"])]
        verbose_name = _("organisation membership")
        verbose_name_plural = _("organisation memberships")

    def __str__(self):
        return f"{self.user} @ {self.organisation} ({self.role})"


class Service(models.Model):
    """One entry in the family-centre service catalogue."""

    class Category(models.TextChoices):
        HEALTH = "health", _("Health")
        SOCIAL = "social", _("Social services")
        FAMILY_SUPPORT = "family_support", _("Family support")
        EARLY_CHILDHOOD = "early_childhood", _("Early childhood education")
        EDUCATION = "education", _("Education")
        YOUTH = "youth", _("Youth work")
        LEISURE = "leisure", _("Leisure")
        FINANCIAL = "financial", _("Financial support")
        MENTAL_HEALTH = "mental_health", _("Mental health and substance abuse")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="services"
    )
    name_fi = models.CharField(_("name in Finnish"), max_length=200)
    name_sv = models.CharField(_("name in Swedish"), max_length=200, blank=True)
    name_en = models.CharField(_("name in English"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    category = models.CharField(_("category"), max_length=30, choices=Category.choices)
    min_age = models.PositiveSmallIntegerField(_("minimum age"), default=0)
    max_age = models.PositiveSmallIntegerField(_("maximum age"), default=17)
    municipalities = models.ManyToManyField(Municipality, related_name="services", blank=True)
    contact = models.CharField(_("contact"), max_length=300, blank=True)
    # Low threshold: open to anyone, no referral needed (the guide's "no referral needed").
    low_threshold = models.BooleanField(_("low threshold"), default=False)
    # In the public catalogue at all; HSDS `status` "inactive" when false.
    is_active = models.BooleanField(_("active"), default=True)
    # The public guide and HSDS 3.0 `service` (issue 17).
    url = models.URLField(_("web site"), blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    eligibility_description = models.TextField(_("who it is for"), blank=True)
    application_process = models.TextField(_("how to get the service"), blank=True)
    fees_description = models.TextField(_("fees"), blank=True)
    # HSDS `status` "temporarily closed", with `alert` saying why and until when.
    temporarily_closed = models.BooleanField(_("temporarily closed"), default=False)
    alert = models.CharField(_("alert"), max_length=500, blank=True)
    taxonomy_terms: "models.ManyToManyField[TaxonomyTerm, models.Model]" = models.ManyToManyField(
        "TaxonomyTerm", related_name="services", blank=True, verbose_name=_("taxonomy terms")
    )
    updated_at = models.DateTimeField(_("last modified"), auto_now=True)

    class Meta:
        ordering = ["name_fi"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_age__lte=models.F("max_age")), name="service_age_range"
            )
        ]
        verbose_name = _("service")
        verbose_name_plural = _("services")

    def __str__(self):
        return self.name_fi

    @property
    def hsds_status(self) -> Literal["active", "inactive", "temporarily closed"]:
        """HSDS 3.0's `status`: out of the catalogue, temporarily closed, or active."""
        if not self.is_active:
            return "inactive"
        return "temporarily closed" if self.temporarily_closed else "active"


class Family(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("family name"), max_length=200)
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="families"
    )
    joint_custody = models.BooleanField(_("joint custody"), default=False)
    recorded_by = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="recorded_families",
        help_text=_("The organisation whose record this family is."),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("family")
        verbose_name_plural = _("families")

    def __str__(self):
        return self.name


class FamilyMember(models.Model):
    class Role(models.TextChoices):
        GUARDIAN = "guardian", _("Guardian")
        CHILD = "child", _("Child")
        OTHER = "other", _("Other")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    family = models.ForeignKey(Family, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    first_name = models.CharField(_("first name"), max_length=150)
    last_name = models.CharField(_("last name"), max_length=150)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    identity_code = EncryptedTextField(
        _("personal identity code"), blank=True, validators=[validate_identity_code_or_temporary]
    )
    identity_code_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    user = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="family_memberships",
        help_text=_("The portal account of this family member, if any."),
    )
    # Where the member lives and is reached: `basic` data, and under a non-disclosure marking
    # (`NonDisclosure`) shown only to those the policy lets see protected data.
    address = models.CharField(_("address"), max_length=300, blank=True)
    contact = models.CharField(_("contact details"), max_length=300, blank=True)
    school = models.CharField(_("school or day care"), max_length=200, blank=True)

    class Meta:
        ordering = ["role", "birth_date", "id"]
        verbose_name = _("family member")
        verbose_name_plural = _("family members")

    def __str__(self):
        return f"{self.first_name} {self.last_name}"

    def save(self, *args, **kwargs):
        self.identity_code = normalise_identity_code(self.identity_code or "")
        self.identity_code_index = blind_index(self.identity_code) if self.identity_code else ""
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "identity_code" in update_fields:
            kwargs["update_fields"] = {*update_fields, "identity_code_index"}
        super().save(*args, **kwargs)

    @property
    def identity_code_temporary(self) -> bool:
        """A temporary code (individual number 900-999) is accepted for a family member: a
        newborn or a newcomer may have only the one a hospital or social services gave, and the
        worker records what the family's papers show. It is marked, so that it is replaced when
        the permanent code comes."""
        return bool(self.identity_code) and is_temporary_identity_code(self.identity_code)


# The fields of a family and its members that tell where the family is: protected under a
# non-disclosure marking (the family's municipality is one fact for all its members).
PROTECTED_FAMILY_FIELDS = ("municipality",)
PROTECTED_MEMBER_FIELDS = ("address", "contact", "school")


class Case(models.Model):
    """The coordination case of one family; an open case has exactly one responsible worker."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    family = models.ForeignKey(Family, on_delete=models.PROTECT, related_name="cases")
    responsible_worker = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="responsible_cases",
    )
    responsible_organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="responsible_cases",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    opening_reason = models.TextField(_("reason for opening"), blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closing_reason = models.TextField(_("reason for closing"), blank=True)

    class Meta:
        ordering = ["-opened_at", "id"]
        permissions = [("manage_case", "Can manage the case's network, consents and handover")]
        permissions += [
            (view_permission(category), f"Can view {category} data of the case")
            for category in Category.values
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="closed")
                | Q(responsible_worker__isnull=False, responsible_organisation__isnull=False),
                name="open_case_has_responsible_worker",
            ),
            models.CheckConstraint(
                condition=Q(status="open") | (Q(closed_at__isnull=False) & ~Q(closing_reason="")),
                name="closed_case_has_time_and_reason",
            ),
            models.UniqueConstraint(
                fields=["family"], condition=Q(status="open"), name="one_open_case_per_family"
            ),
        ]
        indexes = [models.Index(fields=["responsible_worker", "status"])]
        verbose_name = _("case")
        verbose_name_plural = _("cases")

    def __str__(self):
        return f"{self.family} ({self.get_status_display()})"


class CaseUserObjectPermission(UserObjectPermissionBase):
    """django-guardian's per-case user permissions, in a direct foreign-key table."""

    content_object = models.ForeignKey(Case, on_delete=models.CASCADE)
    # Set on the rows of an emergency access (EmergencyAccess): lists read only rows in force,
    # so the case drops out of them the moment the grant ends, with no job to delete the rows.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta(UserObjectPermissionBase.Meta):
        indexes = [models.Index(fields=["user", "permission", "content_object"])]


class CaseGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Case, on_delete=models.CASCADE)


class Handover(models.Model):
    """A proposal to hand a case's responsibility to another worker; kept as history."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        CANCELLED = "cancelled", _("Cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="handovers")
    from_worker = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    to_worker = models.ForeignKey(User, on_delete=models.PROTECT, related_name="handovers_to")
    to_organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    message = models.TextField(_("message"), blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    proposed_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Not stored: set by handover_propose on a departed worker's behalf, for the e-mail.
    proposed_by: User | None

    class Meta:
        ordering = ["-proposed_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(status="proposed"), name="one_open_handover_per_case"
            ),
            models.CheckConstraint(
                condition=~Q(from_worker=models.F("to_worker")), name="handover_to_another_worker"
            ),
        ]
        verbose_name = _("handover")
        verbose_name_plural = _("handovers")

    def __str__(self):
        return f"{self.case_id}: {self.from_worker} -> {self.to_worker} ({self.status})"


class EmergencyAccess(models.Model):
    """Break-the-glass: a worker outside a case's network reads the case for a limited time,
    for a reason they give. Immutable once written: more time takes a new grant with a new
    reason. Who may open one: a worker holding the model permission `cases.emergency_access`
    (given per user or through a group, in the admin)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="emergency_accesses")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="emergency_accesses")
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The organisation the worker acts for."),
    )
    # As long as the access log's `purpose`, which carries it whole into every read.
    reason = models.CharField(_("reason"), max_length=200)
    started_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(editable=False)

    class Meta:
        ordering = ["-started_at", "id"]
        permissions = [
            ("emergency_access", "Can open any open case for a limited time in an emergency")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("started_at")),
                name="emergency_access_ends_after_start",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="emergency_access_has_reason"),
        ]
        indexes = [
            models.Index(fields=["case", "expires_at"]),
            models.Index(fields=["user", "case", "started_at"]),
            models.Index(fields=["organisation", "started_at"]),
        ]
        verbose_name = _("emergency access")
        verbose_name_plural = _("emergency accesses")

    def __str__(self):
        return f"{self.case_id}: {self.user_id} until {self.expires_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("An emergency access is never changed: open a new one instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("An emergency access is never deleted on its own.")

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.started_at <= now < self.expires_at


class NetworkMember(models.Model):
    """Someone in the network around a case: a professional (with an account) or an informal
    member close to the family (no login). Removal keeps the row, with the time it ended."""

    class Kind(models.TextChoices):
        PROFESSIONAL = "professional", _("Professional")
        INFORMAL = "informal", _("Close to the family")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="network")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    user = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="network_memberships"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    role = models.CharField(_("role on the case"), max_length=200, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    relationship = models.CharField(_("relationship to the family"), max_length=200, blank=True)
    contact = models.CharField(_("contact"), max_length=300, blank=True)
    added_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="informal", user__isnull=True, organisation__isnull=True)
                & ~Q(name="")
                | Q(kind="professional", user__isnull=False, organisation__isnull=False),
                name="network_member_kind_fields",
            ),
            models.UniqueConstraint(
                fields=["case", "user"],
                condition=Q(removed_at__isnull=True, user__isnull=False),
                name="one_active_membership_per_user_and_case",
            ),
        ]
        indexes = [models.Index(fields=["user", "case"], name="network_user_case_idx")]
        verbose_name = _("network member")
        verbose_name_plural = _("network members")

    def __str__(self):
        return self.name or str(self.user)


class Invitation(models.Model):
    """An invitation of a worker into a case's network. Only a hash of its token is stored."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="invitations")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    invited_user = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="invitations"
    )
    email = models.EmailField(_("e-mail"), blank=True)
    role = models.CharField(_("role on the case"), max_length=200, blank=True)
    message = models.TextField(_("message"), blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(invited_user__isnull=False) | ~Q(email=""),
                name="invitation_names_someone",
            )
        ]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self):
        return f"{self.case_id}: {self.invited_user or self.email} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class NonDisclosure(models.Model):
    """A non-disclosure marking for personal safety (turvakielto) of one family member.

    While it is in force (not lifted), where the family is (its municipality, its members'
    addresses, contact details, schools and day cares) and the free text the worker flagged as
    protected reach only the case's responsible worker and the network members named here
    (`consent.policy.may_see_protected`). Marked and lifted by the responsible worker; both are
    recorded here and in the change history."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    member = models.ForeignKey(
        FamilyMember, on_delete=models.CASCADE, related_name="non_disclosures"
    )
    marked_at = models.DateTimeField(default=timezone.now, editable=False)
    marked_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    readers = models.ManyToManyField(
        NetworkMember,
        blank=True,
        related_name="non_disclosures",
        verbose_name=_("named network members"),
        help_text=_("Network members who may see the protected data."),
    )
    lifted_at = models.DateTimeField(null=True, blank=True, editable=False)
    lifted_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-marked_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(lifted_at__isnull=True),
                name="one_non_disclosure_in_force_per_member",
            )
        ]
        verbose_name = _("non-disclosure marking")
        verbose_name_plural = _("non-disclosure markings")

    def __str__(self):
        return f"{self.member_id} ({'lifted' if self.lifted_at else 'in force'})"


class Note(models.Model):
    """A note on a case: one data category, recorded by one organisation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    category = models.CharField(_("category"), max_length=30, choices=Category.choices)
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey(
        FamilyMember,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The family member the note is about, if it is about one."),
    )
    text = models.TextField(_("text"))
    protected = models.BooleanField(
        _("protected"),
        default=False,
        help_text=_(
            "Under a non-disclosure marking of the family, shown only to the responsible worker "
            "and the members they name."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["case", "category"])]
        verbose_name = _("note")
        verbose_name_plural = _("notes")

    def __str__(self):
        return f"{self.case_id}: {self.category}"


class Plan(models.Model):
    """The shared plan of a case (data category `plan`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="plan")
    needs = models.TextField(_("needs"), blank=True)
    family_view = models.TextField(_("the family's own words"), blank=True)
    goals = models.TextField(_("goals"), blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")

    def __str__(self):
        return f"Plan of {self.case_id}"


# --- Coordination (issue 6): languages of services, the plan's actions, network meetings,
# referrals to the catalogue, coordinators' reassignments, and the outbox of e-mail ---------------


class ServiceLanguage(models.Model):
    """A language a catalogue service is offered in (the catalogue filters on it)."""

    class Language(models.TextChoices):
        FINNISH = "fi", _("Finnish")
        SWEDISH = "sv", _("Swedish")
        ENGLISH = "en", _("English")
        SAMI = "se", _("Northern Sámi")
        SIGN = "fse", _("Finnish Sign Language")
        RUSSIAN = "ru", _("Russian")
        UKRAINIAN = "uk", _("Ukrainian")
        ARABIC = "ar", _("Arabic")
        SOMALI = "so", _("Somali")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="languages")
    language = models.CharField(_("language"), max_length=3, choices=Language.choices)

    class Meta:
        ordering = ["service", "language"]
        constraints = [
            models.UniqueConstraint(fields=["service", "language"], name="unique_service_language")
        ]
        indexes = [models.Index(fields=["language", "service"])]
        verbose_name = _("service language")
        verbose_name_plural = _("service languages")

    def __str__(self):
        return self.get_language_display()


# --- The public service guide (issue 17): taxonomy, locations and meeting places, opening hours,
# contacts and phones, and open activities. The catalogue's model covers Open Referral HSDS 3.0's
# core objects: organization (Organisation), service (Service), location (Location),
# service_at_location (ServiceAtLocation), contact (Contact), phone (Phone), schedule
# (Schedule), language (ServiceLanguage), service_area (Service.municipalities) and
# taxonomy_term (TaxonomyTerm). None of it is family data: it is public, and not logged. -------


class TaxonomyTerm(models.Model):
    """A term of the catalogue's taxonomy (HSDS `taxonomy_term`); coordinators keep it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.SlugField(_("code"), max_length=80, unique=True)
    taxonomy = models.CharField(_("taxonomy"), max_length=100, default="koordinointi")
    name_fi = models.CharField(_("name in Finnish"), max_length=200)
    name_sv = models.CharField(_("name in Swedish"), max_length=200, blank=True)
    name_en = models.CharField(_("name in English"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    term_uri = models.URLField(_("term URI"), blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("taxonomy term")
        verbose_name_plural = _("taxonomy terms")

    def __str__(self):
        return self.name_fi


class Location(models.Model):
    """A place where an organisation gives its services (HSDS `location`), or a meeting place of
    the family centre (*kohtaamispaikka*) where open activities are held."""

    class LocationType(models.TextChoices):
        PHYSICAL = "physical", _("Physical")
        POSTAL = "postal", _("Postal")
        VIRTUAL = "virtual", _("Virtual")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="locations"
    )
    location_type = models.CharField(
        _("location type"), max_length=10, choices=LocationType.choices, default="physical"
    )
    is_meeting_place = models.BooleanField(_("meeting place of the family centre"), default=False)
    name_fi = models.CharField(_("name in Finnish"), max_length=200)
    name_sv = models.CharField(_("name in Swedish"), max_length=200, blank=True)
    name_en = models.CharField(_("name in English"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    transportation = models.TextField(_("how to get there"), blank=True)
    accessibility = models.TextField(_("accessibility"), blank=True)
    url = models.URLField(_("web site"), blank=True)
    # The address (HSDS `address`, one physical address per location here).
    address = models.CharField(_("street address"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=10, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, null=True, blank=True, related_name="locations"
    )
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("last modified"), auto_now=True)

    class Meta:
        ordering = ["name_fi"]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="location_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="location_longitude_range",
            ),
        ]
        verbose_name = _("location")
        verbose_name_plural = _("locations")

    def __str__(self):
        return self.name_fi


class ServiceAtLocation(models.Model):
    """A service given at a location (HSDS `service_at_location`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="at_locations")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="services_here")
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["service", "location"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "location"], name="unique_service_at_location"
            )
        ]
        verbose_name = _("service at a location")
        verbose_name_plural = _("services at locations")

    def __str__(self):
        return f"{self.service_id} @ {self.location_id}"


def _exactly_one(*fields: str) -> Q:
    """A check that exactly one of the nullable foreign keys `fields` is set."""
    condition = Q()
    for field in fields:
        others = [Q(**{f"{other}__isnull": True}) for other in fields if other != field]
        one = Q(**{f"{field}__isnull": False})
        for other in others:
            one &= other
        condition |= one
    return condition


class Schedule(models.Model):
    """Opening hours (HSDS `schedule`, an RFC 5545 weekly rule): of a service, a location, or a
    service at one location. One row per pattern, e.g. Monday to Thursday 8-16."""

    class Frequency(models.TextChoices):
        WEEKLY = "WEEKLY", _("Weekly")
        MONTHLY = "MONTHLY", _("Monthly")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, null=True, blank=True, related_name="schedules"
    )
    location = models.ForeignKey(
        Location, on_delete=models.CASCADE, null=True, blank=True, related_name="schedules"
    )
    service_at_location = models.ForeignKey(
        ServiceAtLocation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="schedules",
    )
    freq = models.CharField(
        _("frequency"), max_length=10, choices=Frequency.choices, default="WEEKLY"
    )
    # RFC 5545 BYDAY: two-letter days separated by commas ("MO,TU,WE").
    byday = models.CharField(_("days"), max_length=30, blank=True)
    opens_at = models.TimeField(_("opens at"), null=True, blank=True)
    closes_at = models.TimeField(_("closes at"), null=True, blank=True)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=300, blank=True)

    class Meta:
        ordering = ["opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=_exactly_one("service", "location", "service_at_location"),
                name="schedule_has_one_owner",
            ),
            models.CheckConstraint(
                condition=Q(opens_at__isnull=True)
                | Q(closes_at__isnull=True)
                | Q(opens_at__lt=models.F("closes_at")),
                name="schedule_opens_before_it_closes",
            ),
        ]
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")

    def __str__(self):
        return f"{self.byday} {self.opens_at}-{self.closes_at}"


class Contact(models.Model):
    """A named contact of an organisation, a service or a location (HSDS `contact`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, null=True, blank=True, related_name="contacts"
    )
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, null=True, blank=True, related_name="contacts"
    )
    location = models.ForeignKey(
        Location, on_delete=models.CASCADE, null=True, blank=True, related_name="contacts"
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    department = models.CharField(_("department"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=_exactly_one("organisation", "service", "location"),
                name="contact_has_one_owner",
            )
        ]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")

    def __str__(self):
        return self.name or self.title


class Phone(models.Model):
    """A telephone number (HSDS `phone`) of an organisation, a service, a location or a contact."""

    class Type(models.TextChoices):
        VOICE = "voice", _("Voice")
        TEXT = "text", _("Text message")
        CELL = "cell", _("Mobile")
        VIDEO = "video", _("Video call")
        FAX = "fax", _("Fax")
        TEXTPHONE = "textphone", _("Textphone")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, null=True, blank=True, related_name="phones"
    )
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, null=True, blank=True, related_name="phones"
    )
    location = models.ForeignKey(
        Location, on_delete=models.CASCADE, null=True, blank=True, related_name="phones"
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, null=True, blank=True, related_name="phones"
    )
    number = models.CharField(_("number"), max_length=50)
    extension = models.CharField(_("extension"), max_length=20, blank=True)
    type = models.CharField(_("type"), max_length=10, choices=Type.choices, default="voice")
    description = models.CharField(_("description"), max_length=300, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=_exactly_one("organisation", "service", "location", "contact"),
                name="phone_has_one_owner",
            )
        ]
        verbose_name = _("phone")
        verbose_name_plural = _("phones")

    def __str__(self):
        return self.number


class Activity(models.Model):
    """An open activity of the family centre at a place and time, for an age group: a peer
    group, an open early-childhood session, a family café. Public; anyone may come."""

    class Kind(models.TextChoices):
        PEER_GROUP = "peer_group", _("Peer group")
        OPEN_EARLY_CHILDHOOD = "open_early_childhood", _("Open early childhood education")
        FAMILY_CAFE = "family_cafe", _("Family café")
        OTHER = "other", _("Other activity")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="activities"
    )
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="activities")
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities"
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    name_fi = models.CharField(_("name in Finnish"), max_length=200)
    name_sv = models.CharField(_("name in Swedish"), max_length=200, blank=True)
    name_en = models.CharField(_("name in English"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    min_age = models.PositiveSmallIntegerField(_("minimum age"), default=0)
    max_age = models.PositiveSmallIntegerField(_("maximum age"), default=17)
    is_cancelled = models.BooleanField(_("cancelled"), default=False)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__lt=models.F("ends_at")), name="activity_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(min_age__lte=models.F("max_age")), name="activity_age_range"
            ),
        ]
        indexes = [models.Index(fields=["starts_at", "location"])]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")

    def __str__(self):
        return self.name_fi


class PlanAction(models.Model):
    """One action of a case's shared plan: who does what by when (data category `plan`).

    Whoever does it is a worker (`responsible_user`: the responsible worker or a professional
    member) or someone in the network close to the family (`responsible_member`); for a
    professional member both are set. Actions are never deleted: an abandoned one is `dropped`.
    """

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")
        DROPPED = "dropped", _("Dropped")

    OPEN_STATUSES = (Status.PLANNED, Status.IN_PROGRESS)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="plan_actions")
    title = models.CharField(_("action"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    responsible_user = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="plan_actions"
    )
    responsible_member = models.ForeignKey(
        NetworkMember, on_delete=models.PROTECT, null=True, blank=True, related_name="plan_actions"
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PLANNED
    )
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    protected = models.BooleanField(
        _("protected"),
        default=False,
        help_text=_(
            "Under a non-disclosure marking of the family, shown only to the responsible worker "
            "and the members they name."
        ),
    )
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # When the "action due" reminder went out, so that it goes out once per due date.
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["due_date", "created_at", "id"]
        indexes = [
            models.Index(fields=["case", "status"]),
            models.Index(fields=["responsible_user", "status", "due_date"]),
            models.Index(fields=["status", "due_date"]),
        ]
        verbose_name = _("plan action")
        verbose_name_plural = _("plan actions")

    def __str__(self):
        return f"{self.case_id}: {self.title}"


class Meeting(models.Model):
    """A network meeting (verkostopalaveri) of a case; part of the plan (data category `plan`).

    Its minutes are a note of the case, in the category the worker chose for them."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        HELD = "held", _("Held")
        CANCELLED = "cancelled", _("Cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="meetings")
    title = models.CharField(_("title"), max_length=200)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    place = models.CharField(_("place"), max_length=300, blank=True)
    video_link = models.URLField(_("video link"), max_length=500, blank=True)
    agenda = models.TextField(_("agenda"), blank=True)
    members = models.ManyToManyField(
        NetworkMember, blank=True, related_name="meetings", verbose_name=_("network members")
    )
    family_members = models.ManyToManyField(
        FamilyMember, blank=True, related_name="meetings", verbose_name=_("family members")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.SCHEDULED
    )
    minutes = models.ForeignKey(
        Note, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    organiser = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # iCalendar SEQUENCE: calendars replace an earlier copy of the event with a higher one.
    sequence = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="meeting_ends_after_start"
            )
        ]
        indexes = [models.Index(fields=["case", "starts_at"])]
        verbose_name = _("network meeting")
        verbose_name_plural = _("network meetings")

    def __str__(self):
        return f"{self.case_id}: {self.title} {self.starts_at:%Y-%m-%d %H:%M}"


class Referral(models.Model):
    """Guidance (ohjaus) of a family from a case to a service of the catalogue.

    The receiving organisation sees the referral (the case id and the service); the family's
    basic data and the message only as far as a consent in force names that organisation.
    Accepting it invites one of the organisation's workers into the case's network.
    """

    class Status(models.TextChoices):
        SENT = "sent", _("Sent")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="referrals")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="referrals")
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="incoming_referrals",
        help_text=_("The receiving organisation: the service's, when the referral was made."),
    )
    message = models.TextField(_("message to the receiving organisation"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.SENT
    )
    referred_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    referred_by_organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decline_reason = models.TextField(_("reason for declining"), blank=True)
    accepted_worker = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="accepted_referrals"
    )
    invitation = models.ForeignKey(
        Invitation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "service"],
                condition=Q(status="sent"),
                name="one_open_referral_per_case_and_service",
            )
        ]
        indexes = [
            models.Index(fields=["organisation", "status"]),
            models.Index(fields=["case", "status"]),
        ]
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")

    def __str__(self):
        return f"{self.case_id} -> {self.service_id} ({self.status})"


class Reassignment(models.Model):
    """A coordinator's step in reassigning a case whose responsible worker has left: the
    handover they proposed on the worker's behalf (the case moves when the new worker accepts)."""

    class Reason(models.TextChoices):
        ACCOUNT_INACTIVE = "account_inactive", _("The worker's account is deactivated")
        MEMBERSHIP_ENDED = "membership_ended", _("The worker's organisation membership ended")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reassignments")
    handover = models.OneToOneField(Handover, on_delete=models.PROTECT, related_name="reassignment")
    coordinator = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=30, choices=Reason.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name = _("reassignment")
        verbose_name_plural = _("reassignments")

    def __str__(self):
        return f"{self.case_id}: {self.reason}"


class OutboundMail(models.Model):
    """An e-mail written in the transaction of the change that caused it (a transactional
    outbox): sent after commit, and retried by `manage.py retry_mail` when sending failed.

    Its addresses and text are personal data and an invitation's text holds its one-time link,
    so they are stored encrypted and cleared once the mail has gone.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Given up")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=50)
    recipients = EncryptedTextField(_("recipients"))
    subject = EncryptedTextField(_("subject"))
    body = EncryptedTextField(_("body"))
    # A meeting's iCalendar invitation or cancellation (it names the invited people), attached
    # as text/calendar with its iTIP method (REQUEST or CANCEL).
    calendar = EncryptedTextField(_("calendar attachment"), blank=True)
    calendar_method = models.CharField(max_length=10, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        verbose_name = _("outbound e-mail")
        verbose_name_plural = _("outbound e-mail")

    def __str__(self):
        return f"{self.kind} ({self.status})"


class CorrectionRequest(models.Model):
    """A guardian's request to correct one item of the family's data (GDPR Art. 16), and the
    responsible worker's answer: corrected (what was changed) or refused (why, shown to the
    family). The change history keeps both."""

    class Item(models.TextChoices):
        MEMBER = "member", _("A family member's information")
        PLAN = "plan", _("The plan")
        PLAN_ACTION = "plan_action", _("An action of the plan")
        NOTE = "note", _("A note")

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for an answer")
        CORRECTED = "corrected", _("Corrected")
        REFUSED = "refused", _("Refused")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="correction_requests")
    item_kind = models.CharField(_("item"), max_length=20, choices=Item.choices)
    # The member, action or note named; empty for the plan (one per case).
    item_id = models.UUIDField(_("item id"), null=True, blank=True)
    # The data category of the item (for the access log of whoever reads the request).
    category = models.CharField(_("category"), max_length=30, choices=Category.choices)
    what_is_wrong = models.TextField(_("what is wrong"))
    should_say = models.TextField(_("what it should say"))
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.OPEN
    )
    answer = models.TextField(_("answer"), blank=True)
    answered_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open") | (Q(answered_at__isnull=False) & ~Q(answer="")),
                name="answered_correction_has_answer",
            ),
            models.CheckConstraint(
                condition=Q(item_kind="plan") | Q(item_id__isnull=False),
                name="correction_names_its_item",
            ),
        ]
        indexes = [models.Index(fields=["case", "status"])]
        verbose_name = _("correction request")
        verbose_name_plural = _("correction requests")

    def __str__(self):
        return f"{self.case_id}: {self.item_kind} ({self.status})"


# The outbox's change history keeps its state only: its addresses and text are not history.
# (Registered here, before audit.changes registers every other model of this app.)
def _register_outbox_history():
    from auditlog.registry import auditlog

    if not auditlog.contains(OutboundMail):
        auditlog.register(OutboundMail, include_fields=["kind", "status", "attempts", "sent_at"])


_register_outbox_history()


# --- Messages (issue 17) ---


class Conversation(models.Model):
    """A message thread of a case between the family and its responsible worker, and the
    network members the family chose (`members`). The responsible worker of the day is always in
    it (not stored: whoever is responsible now reads it); who reads and posts is decided in
    `consent.policy` (`may_read_conversation`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="conversations")
    subject = models.CharField(_("subject"), max_length=200)
    started_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    members = models.ManyToManyField(
        NetworkMember,
        blank=True,
        related_name="conversations",
        verbose_name=_("chosen network members"),
        help_text=_("Network members the family chose to read and write in this thread."),
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_message_at", "id"]
        indexes = [models.Index(fields=["case", "-last_message_at"], name="conversation_case_idx")]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self):
        return f"{self.case_id}: {self.pk}"


class Message(models.Model):
    """One message of a thread. Free text flagged `protected` follows the non-disclosure rules
    of notes: under a marking, only the responsible worker and the members they name read it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("message"))
    protected = models.BooleanField(
        _("protected"),
        default=False,
        help_text=_(
            "Under a non-disclosure marking of the family, shown only to the responsible worker "
            "and the members they name."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now)

    # Not stored: how a read shows the message to its reader (cases/message_selectors.py).
    author_name: str = ""
    from_family: bool = False
    is_new: bool = False

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="message_thread_idx")]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self):
        return f"{self.conversation_id}: {self.pk}"


class ConversationRead(models.Model):
    """Read status: when one person last read a thread (messages after it are unread)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"], name="one_read_marker_per_user_and_thread"
            )
        ]
        verbose_name = _("read marker")
        verbose_name_plural = _("read markers")

    def __str__(self):
        return f"{self.conversation_id}: {self.user_id}"


# --- Contact requests: the front door for families without a case (issue 17) -------------------


class ContactRequest(models.Model):
    """A contact request (yhteydenottopyyntö) sent from the public guide by someone who has no
    account and no case. It waits in the intake queue of its municipality's family-centre areas
    (or, once referred on, of one organisation) until an intake worker takes it (the family is
    told who will contact them and by when), opens a case with a responsible worker (the
    guardian then gets a portal account), refers it on, or closes it with a reason."""

    class Status(models.TextChoices):
        NEW = "new", _("Waiting in the queue")
        TAKEN = "taken", _("Taken")
        OPENED = "opened", _("Case opened")
        CLOSED = "closed", _("Closed")

    OPEN_STATUSES = (Status.NEW, Status.TAKEN)

    class CloseReason(models.TextChoices):
        ADVISED = "advised", _("Advice given; no case needed")
        UNREACHABLE = "unreachable", _("Could not be reached")
        DUPLICATE = "duplicate", _("A duplicate of another request")
        WITHDRAWN = "withdrawn", _("The family withdrew it")
        NOT_GENUINE = "not_genuine", _("Not a genuine request")

    class Reach(models.TextChoices):
        PHONE = "phone", _("By phone")
        EMAIL = "email", _("By e-mail")

    class Language(models.TextChoices):
        FINNISH = "fi", _("Finnish")
        SWEDISH = "sv", _("Swedish")
        ENGLISH = "en", _("English")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="+", verbose_name=_("municipality")
    )
    # Empty: the queue of the municipality's areas; set: referred on to this organisation.
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contact_requests",
        help_text=_("The organisation it was referred on to; empty: the area's queue."),
    )
    first_name = models.CharField(_("first name"), max_length=150)
    last_name = models.CharField(_("last name"), max_length=150)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    reach_by = models.CharField(
        _("how to reach you"), max_length=10, choices=Reach.choices, default=Reach.PHONE
    )
    # What they need help with: health, social and family matters in their own words.
    need = EncryptedTextField(_("what you need help with"))
    language = models.CharField(
        _("language"), max_length=5, choices=Language.choices, default=Language.FINNISH
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.NEW
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    taken_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    taken_at = models.DateTimeField(null=True, blank=True)
    contact_by = models.DateField(_("contacted by"), null=True, blank=True)
    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, null=True, blank=True, related_name="contact_requests"
    )
    referred_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    referred_at = models.DateTimeField(null=True, blank=True)
    referral_note = models.TextField(_("note to the receiving organisation"), blank=True)
    closed_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(
        _("reason for closing"), max_length=20, choices=CloseReason.choices, blank=True
    )
    close_note = models.TextField(_("note on closing"), blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(email="") | ~Q(phone=""), name="contact_request_reachable"
            ),
            models.CheckConstraint(
                condition=~Q(status="taken") | Q(taken_by__isnull=False),
                name="taken_contact_request_names_its_worker",
            ),
            models.CheckConstraint(
                condition=~Q(status="opened") | Q(case__isnull=False),
                name="opened_contact_request_names_its_case",
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | (Q(closed_at__isnull=False) & ~Q(close_reason="")),
                name="closed_contact_request_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "status"]),
            models.Index(fields=["municipality", "status"]),
        ]
        verbose_name = _("contact request")
        verbose_name_plural = _("contact requests")

    def __str__(self):
        return f"{self.pk} ({self.status})"


# --- Booking (issue 17) ---


class BookingSlot(models.Model):
    """A free time a worker publishes (for one of their organisations, optionally for one of its
    services), which a guardian of a case the worker is responsible for may book."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    worker = models.ForeignKey(User, on_delete=models.PROTECT, related_name="booking_slots")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    place = models.CharField(_("place"), max_length=300, blank=True)
    video_link = models.URLField(_("video link"), max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The worker took the free time back (only while nobody has booked it).
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="booking_slot_ends_after_start"
            )
        ]
        indexes = [models.Index(fields=["worker", "starts_at"])]
        verbose_name = _("free time")
        verbose_name_plural = _("free times")

    def __str__(self):
        return f"{self.worker_id}: {self.starts_at:%Y-%m-%d %H:%M}"


class Booking(models.Model):
    """A guardian's booking of a free time, for their family's case. At most one booking of a
    slot is active (not cancelled): the database holds that, whatever the number of app
    servers (`one_active_booking_per_slot`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slot = models.ForeignKey(BookingSlot, on_delete=models.PROTECT, related_name="bookings")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="bookings")
    booked_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    booked_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-booked_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot"],
                condition=Q(cancelled_at__isnull=True),
                name="one_active_booking_per_slot",
            )
        ]
        indexes = [models.Index(fields=["case", "cancelled_at"])]
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")

    def __str__(self):
        return f"{self.case_id}: {self.slot_id}"
