"""Change history: every domain model is registered with django-auditlog here, in one place."""

from auditlog.registry import auditlog
from django.apps import apps

# Models whose history would only repeat other history, or must not be kept at all.
NOT_REGISTERED = {"cases.User", "cases.CaseUserObjectPermission", "cases.CaseGroupObjectPermission"}
# Per model: fields masked completely, and fields left out of the history.
MASKED = {
    "cases.FamilyMember": ["identity_code"],
    # A contact request's need is the family's own words about health and social matters.
    "cases.ContactRequest": ["need"],
}
EXCLUDED = {
    "cases.FamilyMember": ["identity_code_index"],
    "cases.User": ["password", "last_login"],
}
# Many-to-many fields whose changes are history too: who was named to see protected data.
M2M = {"cases.NonDisclosure": {"readers"}}
# Messages (issue 17): who the family chose into a thread is history; a read marker is not
# (every read of a thread is in the access log already, and a marker moves on every read).
M2M["cases.Conversation"] = {"members"}
NOT_REGISTERED |= {"cases.ConversationRead"}
# Not "audit": its access and disclosure events are history already, append-only and chained;
# a change-history row for each of them would double every read's writes.
DOMAIN_APPS = ("cases", "consent")


def mask_completely(value: str) -> str:
    """Unlike auditlog's default (which keeps half the value) nothing of the value remains.

    auditlog passes a missing value (before creation, after deletion) as the string "None";
    it is kept, as for unmasked fields, so the history does not show a value that never was.
    """
    if value in ("", "None"):
        return value
    return "********"


def register_domain_models() -> None:
    for app_label in DOMAIN_APPS:
        for model in apps.get_app_config(app_label).get_models():
            label = model._meta.label
            if label in NOT_REGISTERED or auditlog.contains(model):
                continue
            auditlog.register(
                model,
                mask_fields=MASKED.get(label, []),
                mask_callable="audit.changes.mask_completely",
                exclude_fields=EXCLUDED.get(label, []),
                m2m_fields=M2M.get(label, set()),
            )
    # Worker accounts are kept by coordinators: their history matters, their hashes do not.
    user_model = apps.get_model("cases", "User")
    if not auditlog.contains(user_model):
        auditlog.register(user_model, exclude_fields=EXCLUDED["cases.User"])
