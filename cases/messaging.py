"""Writes of the family's messages (issue 17): starting a thread, posting in one, and reading
one (which moves the reader's read marker). Each is one transaction; every decision comes from
`consent.policy`; whoever else reads the thread gets a mail that says only that a message waits,
and where (cases/notifications.py)."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import message_selectors, notifications
from cases.message_selectors import Thread
from cases.models import Case, Conversation, ConversationRead, Message, User
from consent import policy
from consent.policy import Access

SUBJECT_LIMIT = 200
TEXT_LIMIT = 10000


def _text(value: str, field: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: _("Write something first.")})
    if len(value) > limit:
        raise ValidationError(
            {field: _("At most %(limit)d characters, please.") % {"limit": limit}}
        )
    return value


def _mark_read(*, user: User, conversation: Conversation, now) -> None:
    """Move the user's read marker of the thread to `now` (created on the first read)."""
    if ConversationRead.objects.filter(conversation=conversation, user_id=user.pk).update(
        read_at=now
    ):
        return
    try:
        with transaction.atomic():
            ConversationRead.objects.create(conversation=conversation, user=user, read_at=now)
    except IntegrityError:  # a read of the same person at the same moment made it first
        ConversationRead.objects.filter(conversation=conversation, user_id=user.pk).update(
            read_at=now
        )


def _notify(*, actor: User, case: Case, conversation: Conversation) -> None:
    """A mail to everyone else who reads the thread: no content, only where to read it."""
    member_user_ids = {member.user_id for member in conversation.members.filter(removed_at=None)}
    readers = policy.conversation_readers(case, member_user_ids=member_user_ids)
    readers.pop(actor.pk, None)
    users = {user.pk: user for user in User.objects.filter(pk__in=readers, is_active=True)}
    notifications.message_posted(
        conversation=conversation,
        family=[users[pk] for pk, access in readers.items() if pk in users and access.is_family],
        workers=[
            users[pk] for pk, access in readers.items() if pk in users and not access.is_family
        ],
    )


@transaction.atomic
def conversation_start(
    *,
    actor: User,
    case: Case,
    access: Access,
    subject: str,
    text: str,
    members: Iterable = (),
) -> Thread:
    """Start a thread of `case` with its first message. The family chooses which network members
    are in it (`members`: network member ids); the responsible worker always is."""
    policy.require_may_start_conversation(access, case)
    member_ids = {str(member) for member in members}
    policy.require_may_choose_members(access, member_ids)
    chosen = list(policy.choosable_members(case).filter(pk__in=member_ids))
    if len(chosen) != len(member_ids):
        raise ValidationError(
            {"members": _("Choose professionals who are in this case's network now.")}
        )
    now = timezone.now()
    conversation = Conversation(
        case=case,
        subject=_text(subject, "subject", SUBJECT_LIMIT),
        started_by=actor,
        created_at=now,
        last_message_at=now,
    )
    text = _text(text, "text", TEXT_LIMIT)
    conversation.full_clean()
    conversation.save()
    conversation.members.set(chosen)
    Message.objects.create(conversation=conversation, author=actor, text=text, created_at=now)
    _mark_read(user=actor, conversation=conversation, now=now)
    _notify(actor=actor, case=case, conversation=conversation)
    return message_selectors.conversation_get(
        user=actor, case=case, access=access, conversation_id=conversation.pk
    )


@transaction.atomic
def message_post(
    *,
    actor: User,
    case: Case,
    access: Access,
    conversation_id,
    text: str,
    protected: bool = False,
) -> Message:
    """Post a message in a thread the actor is in (404 for any other, as for one that does not
    exist), on an open case."""
    thread = message_selectors.conversation_get(
        user=actor, case=case, access=access, conversation_id=conversation_id
    )
    policy.require_may_write_messages(case)
    if protected:
        policy.require_may_flag_protected_message(access)
    conversation = Conversation.objects.select_for_update().get(pk=thread.conversation.pk)
    now = timezone.now()
    message = Message(
        conversation=conversation,
        author=actor,
        text=_text(text, "text", TEXT_LIMIT),
        protected=protected,
        created_at=now,
    )
    message.full_clean()
    message.save()
    conversation.last_message_at = now
    conversation.save(update_fields=["last_message_at"])
    message.from_family = access.is_family  # as the thread shows it (no name here)
    _mark_read(user=actor, conversation=conversation, now=now)
    _notify(actor=actor, case=case, conversation=conversation)
    return message


@transaction.atomic
def conversation_open(*, user: User, case: Case, access: Access, conversation_id) -> Thread:
    """Read one thread: its messages (each marked `is_new` when it came from someone else after
    the reader's last read), and the reader's read marker moved to now."""
    thread = message_selectors.conversation_get(
        user=user, case=case, access=access, conversation_id=conversation_id
    )
    last_read = getattr(thread.conversation, "my_read_at")  # noqa: B009 (an annotation)
    for message in thread.messages:
        message.is_new = message.author_id != user.pk and message.created_at > last_read
    _mark_read(user=user, conversation=thread.conversation, now=timezone.now())
    return thread
