"""The family's voice (issue 18): after a network meeting and when the case closes, the portal
asks the guardian a few short questions. The answer is stored apart from the question, with the
area and month only (reports/models.py), so no report can lead back to the family."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from portal.access import family_case, family_page, shown
from portal.views import _page
from reports import selectors as report_selectors
from reports import services as report_services

FREE_TEXT_LIMIT = 1000
REPLIES = [("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))]


class FeedbackForm(forms.Form):
    told_story_more_than_once = forms.ChoiceField(
        label=gettext_lazy("Did you have to tell your story more than once?"),
        choices=REPLIES,
        required=False,
        widget=forms.RadioSelect,
    )
    knows_responsible_worker = forms.ChoiceField(
        label=gettext_lazy("Do you know who your responsible worker is?"),
        choices=REPLIES,
        required=False,
        widget=forms.RadioSelect,
    )
    help_at_right_time = forms.ChoiceField(
        label=gettext_lazy("Did you get help at the right time?"),
        choices=REPLIES,
        required=False,
        widget=forms.RadioSelect,
    )
    free_text = forms.CharField(
        label=gettext_lazy("Anything else you want to tell us? (Please do not write names.)"),
        max_length=FREE_TEXT_LIMIT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


@family_page("feedback")
@require_http_methods(["GET", "POST"])
def feedback(request, case_id):
    """GET: the questions, when there is one the guardian has not answered; POST: the answer."""
    case, access = family_case(user=request.user, case_id=case_id)
    prompt = report_selectors.open_feedback_prompt(user=request.user, case=case)
    form = FeedbackForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if prompt is not None and form.is_valid():
            data = form.cleaned_data
            try:
                report_services.feedback_answer(
                    actor=request.user,
                    prompt=prompt,
                    replies={name: data[name] for name in form.fields if name != "free_text"},
                    free_text=data["free_text"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Thank you. Your answer was saved anonymously."))
                return redirect("portal:case", case_id=case.pk)
        status = 400
        if prompt is None:
            form.add_error(None, _("There is no question waiting for your answer."))
    # The page shows that the case exists and nothing of its data.
    shown(request, case=case, access=access, resource="feedback")
    response = _page(
        request, "portal/feedback.html", case=case, current="feedback", form=form, prompt=prompt
    )
    response.status_code = status
    return response
