"""The family's messages in the portal (issue 17): the threads of the case with a form to start
one (choosing which network members are in it), and one thread with a form to answer. Reads and
writes go through cases.message_selectors and cases.messaging; each page logs what it showed
through `portal.access.shown`, from the object that the page renders."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from cases import message_selectors, messaging
from portal import selectors
from portal.access import family_case, family_page, shown

# The thread list pages: a family writes for years, and a page of every thread it ever started
# would grow without end (as would its queries' cost); newest first, as many as the history.
THREADS_PAGE_SIZE = 20


class ConversationForm(forms.Form):
    """A new thread: its subject, the first message, and who else of the network is in it."""

    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=messaging.SUBJECT_LIMIT)
    text = forms.CharField(
        label=gettext_lazy("Message"),
        max_length=messaging.TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    members = forms.MultipleChoiceField(
        label=gettext_lazy("Who else of your network may read and answer"),
        help_text=gettext_lazy("Your responsible worker is always in the thread."),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, members: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["members"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = members


class MessageForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Your answer"),
        max_length=messaging.TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


def _add_errors(form: forms.Form, error: ValidationError) -> None:
    for name, errors in error.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


def _render(request, template, *, case, status, **context):
    response = render(
        request,
        template,
        {
            "case": case,
            "current": "conversations",
            "pending_count": selectors.pending_count(user=request.user, case=case),
            **context,
        },
    )
    response.status_code = status
    return response


@family_page("conversations")
@require_http_methods(["GET", "POST"])
def conversations(request, case_id):
    """GET: the family's threads with their unread counts, and the form to start one; POST: the
    new thread, with its first message."""
    case, access = family_case(user=request.user, case_id=case_id)
    choices = message_selectors.choosable_members(case=case)
    form = ConversationForm(request.POST or None, members=choices)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                thread = messaging.conversation_start(
                    actor=request.user,
                    case=case,
                    access=access,
                    subject=form.cleaned_data["subject"],
                    text=form.cleaned_data["text"],
                    members=form.cleaned_data["members"],
                )
            except ValidationError as error:
                _add_errors(form, error)
            except PermissionDenied as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Your message was sent."))
                return redirect(
                    "portal:conversation", case_id=case.pk, conversation_id=thread.conversation.pk
                )
        status = 400
    threads = message_selectors.conversation_list(
        user=request.user,
        case=case,
        access=access,
        paginate=lambda queryset: Paginator(queryset, THREADS_PAGE_SIZE).get_page(
            request.GET.get("page")
        ),
    )
    shown(
        request,
        case=case,
        access=access,
        resource="conversations",
        categories=threads.categories,
        sources=threads.sources,
    )
    return _render(
        request,
        "portal/conversations.html",
        case=case,
        status=status,
        form=form,
        conversations=threads.conversations,
        page=threads.page,
    )


@family_page("conversations")
@require_http_methods(["GET", "POST"])
def conversation(request, case_id, conversation_id):
    """GET: one thread, its messages (reading marks it read); POST: an answer in it."""
    case, access = family_case(user=request.user, case_id=case_id)
    form = MessageForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                messaging.message_post(
                    actor=request.user,
                    case=case,
                    access=access,
                    conversation_id=conversation_id,
                    text=form.cleaned_data["text"],
                )
            except ValidationError as error:
                _add_errors(form, error)
            except PermissionDenied as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Your message was sent."))
                return redirect(
                    "portal:conversation", case_id=case.pk, conversation_id=conversation_id
                )
        status = 400
    thread = messaging.conversation_open(
        user=request.user, case=case, access=access, conversation_id=conversation_id
    )
    shown(
        request,
        case=case,
        access=access,
        resource="conversations",
        categories=thread.categories,
        sources=thread.sources,
    )
    return _render(
        request,
        "portal/conversation.html",
        case=case,
        status=status,
        form=form,
        conversation=thread.conversation,
        thread_messages=thread.messages,
    )
