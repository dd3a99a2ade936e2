"""Production sign-in through OpenID Connect (mozilla-django-oidc), on only when configured.

The broker of the national strong identification returns the person's identity code in a claim
(`OIDC_IDENTITY_CODE_CLAIM`). It is matched to a guardian through the identity code's keyed
blind index, under any configured key; no account is created or changed, and the code is never
logged.
"""

from django.conf import settings
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from cases.identity_code import identity_code_lookup_q
from cases.models import FamilyMember, User


class GuardianOIDCBackend(OIDCAuthenticationBackend):
    def identity_code(self, claims) -> str:
        claim = getattr(settings, "OIDC_IDENTITY_CODE_CLAIM", "personal_identity_code")
        return str(claims.get(claim) or "").strip().upper()

    def verify_claims(self, claims) -> bool:
        return bool(self.identity_code(claims))

    def filter_users_by_claims(self, claims):
        code = self.identity_code(claims)
        if not code:
            return User.objects.none()
        # Under any configured blind-index key: a rebuild to a new key may be under way.
        return User.objects.filter(
            identity_code_lookup_q(code, prefix="family_memberships__"),
            is_active=True,
            family_memberships__role=FamilyMember.Role.GUARDIAN,
        ).distinct()

    def create_user(self, claims):
        return None  # portal accounts are linked to guardians by the service, never self-made

    def update_user(self, user, claims):
        return user  # nothing from the claims is copied into the account

    def describe_user_by_claims(self, claims) -> str:
        return "the identity code given"  # never the code itself: it would end up in logs
