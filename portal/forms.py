"""Portal forms: sign-in, and a correction request. Consent decisions are buttons whose only
input is the URL."""

import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# As cases.services.CORRECTION_TEXT_LIMIT, which the service checks again.
CORRECTION_TEXT_LIMIT = 4000


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CorrectionForm(forms.Form):
    """What to correct (one of the items the family sees), what is wrong, what it should say."""

    item = forms.ChoiceField(label=_("What should be corrected"))
    what_is_wrong = forms.CharField(
        label=_("What is wrong"),
        max_length=CORRECTION_TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    should_say = forms.CharField(
        label=_("What it should say"),
        max_length=CORRECTION_TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, items: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        item = self.fields["item"]
        assert isinstance(item, forms.ChoiceField)
        item.choices = [("", _("Choose…")), *items]

    def chosen_item(self) -> tuple[str, uuid.UUID | None]:
        kind, _sep, raw = self.cleaned_data["item"].partition(":")
        return kind, uuid.UUID(raw) if raw else None

    def add_service_errors(self, error: ValidationError) -> None:
        """The service's field errors on this form's fields (its `item` error on `item`)."""
        for name, messages in error.message_dict.items():
            self.add_error(name if name in self.fields else None, messages)
