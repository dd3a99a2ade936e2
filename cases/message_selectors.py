"""Reads of the family's messages (issue 17): the threads of a case that a user reads, and one
thread with its messages. Who reads what is `consent.policy`'s; each read returns, beside what
it shows, the data categories that its access-log entry names, so that a response and its log
come from one object."""

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from cases.models import (
    Case,
    Conversation,
    ConversationRead,
    FamilyMember,
    Message,
    NetworkMember,
    User,
)
from consent import policy
from consent.policy import Access
from koordinointi.vocabulary import MESSAGES, PROTECTED, Category

NEVER = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@dataclass
class Threads:
    """The threads a user reads on one case (each with `unread`, `chosen`), and what the list
    showed for the access log: the threads' subjects are the family's messages."""

    conversations: list
    categories: set = field(default_factory=set)
    sources: set = field(default_factory=set)
    # What `paginate` returned (a DRF page, a Django `Page`), for the face's page links.
    page: Any = None


@dataclass
class Thread:
    """One thread, the messages this user reads in it, and what it showed for the access log."""

    conversation: Conversation
    messages: list
    categories: set = field(default_factory=set)
    sources: set = field(default_factory=set)


def _chosen_members() -> Prefetch:
    return Prefetch(
        "members",
        queryset=NetworkMember.objects.filter(removed_at__isnull=True).select_related(
            "user", "organisation"
        ),
        to_attr="chosen",
    )


def _visible_messages(access: Access) -> QuerySet[Message]:
    messages = Message.objects.all()
    if policy.hides_protected(access):
        messages = messages.filter(protected=False)
    return messages


def conversation_queryset(*, user: User, case: Case, access: Access) -> QuerySet[Conversation]:
    """The case's threads that `user` reads, newest first, each with `unread` (messages of
    others after the user's read marker) and its chosen members in force (`chosen`)."""
    read_at = ConversationRead.objects.filter(conversation=OuterRef("pk"), user_id=user.pk)
    unread = (
        _visible_messages(access)
        .filter(conversation=OuterRef("pk"), created_at__gt=OuterRef("my_read_at"))
        .exclude(author_id=user.pk)
        .order_by()
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    threads = policy.conversations_for(access, user, Conversation.objects.filter(case=case))
    return (
        threads.annotate(my_read_at=Coalesce(Subquery(read_at.values("read_at")[:1]), Value(NEVER)))
        .annotate(unread=Coalesce(Subquery(unread), Value(0)))
        .select_related("started_by")
        .prefetch_related(_chosen_members())
    )


def conversation_list(
    *,
    user: User,
    case: Case,
    access: Access,
    paginate: Callable[[QuerySet], Iterable] | None = None,
) -> Threads:
    """The threads of a case that `user` reads (none for whoever reads none: an empty list),
    newest first; with `paginate`, only the page it cuts from them (and that page's log
    categories: the threads shown, not those of other pages)."""
    policy.check(access, policy.Need.VIEW)
    threads = conversation_queryset(user=user, case=case, access=access)
    page = paginate(threads) if paginate is not None else threads
    conversations = list(page)
    return Threads(
        conversations=conversations,
        categories={MESSAGES} if conversations else set(),
        page=page,
    )


def _read_threads(*, case: Case, access: Access, conversations: list) -> list[Thread]:
    """The messages `access` reads in each of `conversations` (threads of `case` the user is
    in), each author named as the reader may see, and what each thread showed for the access
    log. Two queries however many threads and messages: the messages, and the family's
    guardians (who wrote as the family)."""
    by_thread: dict = {conversation.pk: [] for conversation in conversations}
    if not by_thread:
        return []
    for message in (
        _visible_messages(access)
        .filter(conversation__in=list(by_thread))
        .select_related("author")
        .order_by("created_at", "id")
    ):
        by_thread[message.conversation_id].append(message)
    # Who wrote each message: a worker by name; the family as the guardian of the family's
    # record, by name only to those who read the family's basic data (then logged as such).
    guardians = {
        member.user_id: member
        for member in FamilyMember.objects.filter(
            family_id=case.family_id, role=FamilyMember.Role.GUARDIAN, user__isnull=False
        )
    }
    threads = []
    for conversation in conversations:
        messages = by_thread[conversation.pk]
        categories, sources = {MESSAGES}, set()
        for message in messages:
            guardian = guardians.get(message.author_id)
            name = ""
            if guardian is None:
                name = message.author.get_full_name() or message.author.username
            elif access.can_read(Category.BASIC):
                name = f"{guardian.first_name} {guardian.last_name}".strip()
                categories.add(Category.BASIC)
                sources.add(case.responsible_organisation_id)  # the family's record is the case's
            message.from_family = guardian is not None
            message.author_name = name
        if policy.shows_protected(access) and any(message.protected for message in messages):
            categories.add(PROTECTED)
        threads.append(
            Thread(
                conversation=conversation,
                messages=messages,
                categories=categories,
                sources=sources,
            )
        )
    return threads


def conversation_get(*, user: User, case: Case, access: Access, conversation_id) -> Thread:
    """One thread with the messages `user` reads in it; 404 for a thread the user is not in,
    the same as for one that does not exist."""
    policy.check(access, policy.Need.VIEW)
    try:
        conversation = conversation_queryset(user=user, case=case, access=access).get(
            pk=conversation_id
        )
    except (Conversation.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    [thread] = _read_threads(case=case, access=access, conversations=[conversation])
    return thread


def conversations_read(*, user: User, case: Case, access: Access) -> list[Thread]:
    """Every thread of the case that `user` reads, newest first, each with its messages as
    `conversation_get` gives them (the same reads, the same names, the same log categories), in
    a constant number of queries: for the family's own copy, which holds what the portal's
    thread pages show. It moves no read marker (a copy is not a reading of the thread)."""
    policy.check(access, policy.Need.VIEW)
    conversations = list(conversation_queryset(user=user, case=case, access=access))
    return _read_threads(case=case, access=access, conversations=conversations)


def choosable_members(*, case: Case) -> list[tuple[str, str]]:
    """The network members the family may choose into a thread: (id, name and organisation)."""
    members = policy.choosable_members(case).select_related("user", "organisation")
    return [
        (
            str(member.pk),
            ", ".join(
                part
                for part in (
                    member.user and (member.user.get_full_name() or member.user.username),
                    member.organisation and member.organisation.name,
                )
                if part
            ),
        )
        for member in members
    ]
