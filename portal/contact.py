"""The front door (issue 17): the public contact-request form, with no sign-in, in Finnish,
Swedish and English (each language at its own address), and the new guardian's account
activation. No domain rules here: `cases.intake` writes, `consent.policy` decides.

Spam is kept out without any outside service: a rate limit per client address, a honeypot field
that people do not see (a form with it filled is thanked and dropped), and a signed time in the
form (one sent sooner than `CONTACT_FORM_MIN_SECONDS` after it was served is sent back to be
checked; one older than `CONTACT_FORM_MAX_HOURS`, or with a forged time, is refused).
"""

import time
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.forms import SetPasswordForm
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from cases import intake, selectors
from cases.models import ContactRequest
from portal.access import portal_view
from portal.throttles import ContactRequestThrottle

# language -> (the form's address, the confirmation's address below it)
ADDRESSES = {
    "fi": ("palvelut/ota-yhteytta/", "kiitos/"),
    "sv": ("tjanster/kontakt/", "tack/"),
    "en": ("services/contact/", "thanks/"),
}
HONEYPOT = "website"
SALT = "portal.contact.started"


def started_token(at: float | None = None) -> str:
    """The signed time a form was served at (tests make older ones with `at`)."""
    return signing.dumps({"t": time.time() if at is None else at}, salt=SALT)


def _age_of(token: str) -> float | None:
    """Seconds since the form was served, or None for a forged or unreadable time."""
    try:
        served = signing.loads(token, salt=SALT)["t"]
    except (signing.BadSignature, KeyError, TypeError):
        return None
    return time.time() - float(served) if isinstance(served, int | float) else None


class MunicipalityField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        if translation.get_language() == "sv" and obj.name_sv:
            return obj.name_sv
        return obj.name


class ContactForm(forms.Form):
    first_name = forms.CharField(
        label=gettext_lazy("First name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label=gettext_lazy("Last name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    municipality = MunicipalityField(
        label=gettext_lazy("Your municipality"),
        queryset=selectors.municipality_choices(),
        empty_label=gettext_lazy("Choose…"),
    )
    need = forms.CharField(
        label=gettext_lazy("What would you like help with?"),
        help_text=gettext_lazy(
            "In your own words: what is on your mind, and the ages of your children if you like. "
            "Only the family centre's intake workers read it."
        ),
        max_length=intake.NEED_LIMIT,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    reach_by = forms.ChoiceField(
        label=gettext_lazy("How should we reach you?"),
        choices=ContactRequest.Reach.choices,
        initial=ContactRequest.Reach.PHONE,
        widget=forms.RadioSelect,
    )
    phone = forms.CharField(
        label=gettext_lazy("Phone"),
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )
    email = forms.EmailField(
        label=gettext_lazy("E-mail"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    # The honeypot: hidden from people (and from screen readers and the keyboard), not from bots.
    website = forms.CharField(
        label=gettext_lazy("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    started = forms.CharField(widget=forms.HiddenInput)

    def visible_fields_in_order(self):
        return [self[name] for name in ("first_name", "last_name", "municipality", "need")]

    def add_service_errors(self, error: ValidationError) -> None:
        for name, messages in error.message_dict.items():
            self.add_error(name if name in self.fields else None, messages)


def _addresses(language: str) -> dict:
    return {code: reverse(f"contact-{code}") for code in ADDRESSES} | {"current": language}


def _render_form(request, form, language: str, *, status: int = 200):
    return render(
        request,
        "portal/contact.html",
        {"form": form, "languages": _addresses(language), "public": True},
        status=status,
    )


def _in_language(view):
    """The page in the language of its address, whatever the portal's language cookie says."""

    @wraps(view)
    def wrapper(request, *args, language: str, **kwargs):
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = view(request, *args, language=language, **kwargs)
        response.headers["Content-Language"] = language
        return response

    return wrapper


@_in_language
@never_cache
@require_http_methods(["GET", "POST"])
def contact_form(request, *, language: str):
    """The contact-request form; no sign-in."""
    if request.method == "GET":
        return _render_form(request, ContactForm(initial={"started": started_token()}), language)
    form = ContactForm(request.POST)
    fresh = started_token()
    # This throttle never reads `view`: a Django view has no APIView to pass.
    if not ContactRequestThrottle().allow_request(request, None):  # type: ignore[arg-type]
        form.full_clean()
        form.add_error(None, _("Too many contact requests from your address. Try again later."))
        return _render_form(request, _refreshed(form, fresh), language, status=429)
    if request.POST.get(HONEYPOT):
        # A bot: thanked like a person, and nothing is kept.
        return redirect(f"contact-done-{language}")
    age = _age_of(request.POST.get("started", ""))
    if age is None or age > settings.CONTACT_FORM_MAX_HOURS * 3600:
        form.full_clean()
        form.add_error(None, _("The form had expired. Check your answers and send the form again."))
        return _render_form(request, _refreshed(form, fresh), language, status=400)
    if age < settings.CONTACT_FORM_MIN_SECONDS:
        form.full_clean()
        form.add_error(
            None, _("The form was sent very quickly. Check your answers and send it again.")
        )
        return _render_form(request, _refreshed(form, fresh), language, status=400)
    if not form.is_valid():
        return _render_form(request, _refreshed(form, fresh), language, status=400)
    values = {k: v for k, v in form.cleaned_data.items() if k not in (HONEYPOT, "started")}
    try:
        intake.contact_request_submit(language=language, **values)
    except ValidationError as error:
        form.add_service_errors(error)
        return _render_form(request, _refreshed(form, fresh), language, status=400)
    return redirect(f"contact-done-{language}")


def _refreshed(form: ContactForm, token: str) -> ContactForm:
    """The form sent back with its answers and a new served time."""
    data = QueryDict(mutable=True)
    data.update(form.data)
    data["started"] = token
    form.data = data
    return form


@_in_language
@require_GET
def contact_done(request, *, language: str):
    """The confirmation: what happens next (nothing of the request is shown)."""
    context = {
        "languages": _addresses(language),
        "public": True,
        "form_url": reverse(f"contact-{language}"),
    }
    return render(request, "portal/contact_done.html", context)


urlpatterns = []
for _code, (_form_path, _done_path) in ADDRESSES.items():
    urlpatterns += [
        path(_form_path, contact_form, {"language": _code}, name=f"contact-{_code}"),
        path(
            _form_path + _done_path,
            contact_done,
            {"language": _code},
            name=f"contact-done-{_code}",
        ),
    ]


# --- The new guardian's account ------------------------------------------------------------------


@portal_view
@sensitive_post_parameters("new_password1", "new_password2")
@never_cache
@require_http_methods(["GET", "POST"])
def activate(request, uidb64: str, token: str):
    """Set the password of a new guardian's portal account, from the one-time link mailed when
    a case was opened from their contact request; then signed in, to the family's case."""
    account = intake.activation_account(uidb64=uidb64, token=token)
    if account is None:
        return render(request, "portal/activate_invalid.html", status=404)
    form = SetPasswordForm(account, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            intake.account_activate(account=account, password=form.cleaned_data["new_password1"])
        except ValidationError as error:
            form.add_error("new_password1", error)
        else:
            auth.login(request, account, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("portal:index")
    status = 400 if request.method == "POST" else 200
    return render(
        request, "portal/activate.html", {"form": form, "account": account}, status=status
    )
