"""Keeps guardian's table in step when a worker's place changes outside the services (the admin,
a script): an organisation membership saved or deleted, an account activated or closed."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from cases.models import OrganisationMembership, User
from consent import policy


@receiver(post_save, sender=OrganisationMembership)
@receiver(post_delete, sender=OrganisationMembership)
def membership_changed(sender, instance, **kwargs):
    if kwargs.get("raw"):  # loading a fixture: the permission rows come with it
        return
    policy.sync_user(user_id=instance.user_id)


@receiver(post_save, sender=User)
def account_changed(sender, instance, created, update_fields=None, **kwargs):
    if created or kwargs.get("raw"):
        return
    if update_fields is None or "is_active" in update_fields:
        policy.sync_user(user_id=instance.pk)
