"""Family portal pages. No domain rules here: reads go through consent.policy (by way of the case
and consent selectors), writes through consent.services, and every page of family data is
access-logged by `portal.access.family_page`."""

import io
import json
import zipfile

from django.contrib import auth, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.models import AccessEvent
from cases import family_view
from cases import selectors as case_selectors
from cases import services as case_services
from consent import policy
from consent import services as consent_services
from consent.models import Consent, ConsentEvent
from koordinointi.security import lockout_message
from koordinointi.vocabulary import Category
from portal import selectors
from portal.access import family_case, family_consent, family_page, portal_view, shown
from portal.forms import CorrectionForm, LoginForm
from portal.oidc import end_session_url
from portal.signin import render_login, safe_next_target
from portal.throttles import PortalLoginThrottle
from reports import selectors as report_selectors

HISTORY_PAGE_SIZE = 50


def _page(request, template, *, case, current, **context):
    return render(
        request,
        template,
        {
            "case": case,
            "current": current,
            "pending_count": selectors.pending_count(user=request.user, case=case),
            **context,
        },
    )


def _is_portal_user(user) -> bool:
    return policy.may_use_portal(user)


def _family_cases(user) -> list:
    """The cases of the families whose guardian `user` is, open ones first."""
    return case_selectors.family_case_list(user=user)


# --- Sign-in ------------------------------------------------------------------------------------


def _safe_next(request) -> str:
    return safe_next_target(request, request.POST.get("next") or request.GET.get("next") or "")


@portal_view
@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    form = LoginForm(request.POST or None)
    status = 200
    # This throttle never reads `view`: a Django view has no APIView to pass.
    if request.method == "POST" and not PortalLoginThrottle().allow_request(request, None):  # type: ignore[arg-type]
        form.full_clean()  # only so that the form can carry the message: no password is checked
        form.add_error(None, _("Too many sign-in attempts from your address. Try again shortly."))
        status = 429
    elif request.method == "POST" and form.is_valid():
        # django-axes counts failures per username and address and, once locked, refuses the
        # pair inside authenticate() before the password is checked (koordinointi/settings.py).
        user = auth.authenticate(
            request,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            form.add_error(None, lockout_message())
            status = 429
        elif user is None:
            form.add_error(None, _("The username or password is wrong."))
            status = 400
        elif not _is_portal_user(user):
            form.add_error(
                None,
                _(
                    "This portal is for families. Your account is not a family's portal "
                    "account: workers use their organisation's own system."
                ),
            )
            status = 403
        else:
            auth.login(request, user)
            return redirect(_safe_next(request))
    elif request.method == "POST":
        status = 400
    return render_login(request, form=form, status=status)


@portal_view
@require_POST
def logout_view(request):
    """Signs out here and, after a strong identification, at the broker too (its
    end_session_endpoint), so that the next person at a shared device must identify again."""
    provider_logout = end_session_url(request, request.session.get("oidc_id_token"))
    auth.logout(request)
    messages.info(request, _("You have signed out."))
    if provider_logout is not None:
        return redirect(provider_logout)
    return redirect("portal:login")


# --- Pages --------------------------------------------------------------------------------------


@family_page("family")
@require_GET
def index(request):
    """The family's case, straight away; a list when the person is a guardian in several."""
    family_cases = _family_cases(request.user)
    if not family_cases:
        return render(request, "portal/not_family.html", status=404)
    if len(family_cases) == 1:
        return redirect("portal:case", case_id=family_cases[0][0].pk)
    for case, access in family_cases:
        shown(
            request,
            case=case,
            access=access,
            resource="family",
            action=AccessEvent.Action.LIST,
            categories={Category.BASIC},
            sources={case.family.recorded_by_id},
        )
    return render(request, "portal/families.html", {"family_cases": family_cases})


@family_page("case")
@require_GET
def case_detail(request, case_id):
    case, access = family_case(user=request.user, case_id=case_id)
    page = family_view.case_page(case=case, access=access)
    shown(
        request,
        case=case,
        access=access,
        resource="case",
        categories=page.categories,
        sources=page.sources,
    )
    # A question of the family's feedback waiting for an answer (issue 18), linked on the page.
    prompt = report_selectors.open_feedback_prompt(user=request.user, case=case)
    return _page(
        request,
        "portal/case.html",
        case=case,
        current="case",
        feedback_prompt=prompt,
        **page.context,
    )


@family_page("members")
@require_GET
def network(request, case_id):
    case, access = family_case(user=request.user, case_id=case_id)
    page = family_view.network_page(case=case, access=access)
    shown(
        request,
        case=case,
        access=access,
        resource="members",
        categories=page.categories,
        sources=page.sources,
    )
    return _page(request, "portal/network.html", case=case, current="network", **page.context)


@family_page("notes")
@require_GET
def notes(request, case_id):
    case, access = family_case(user=request.user, case_id=case_id)
    page = family_view.notes_page(case=case, access=access)
    shown(
        request,
        case=case,
        access=access,
        resource="notes",
        categories=page.categories,
        sources=page.sources,
    )
    return _page(request, "portal/notes.html", case=case, current="notes", **page.context)


def _consent_rows(request, case, consents):
    guardians, required = selectors.decision_context(case=case, consents=consents)
    me = next((g for g in guardians if g.user_id == request.user.pk), None)
    rows = []
    for consent in consents:
        events = list(consent.events.all())
        rows.append(
            {
                "consent": consent,
                "state": consent.effective_state(),
                "categories": [Category(c).label for c in consent.categories],
                "recipients": list(consent.recipients.all()),
                "answers": selectors.guardian_answers(
                    consent=consent, guardians=guardians, required=required
                ),
                "i_granted": any(
                    e.kind == ConsentEvent.Kind.GRANTED and me and e.grantor_id == me.pk
                    for e in events
                ),
                "decisions": [e for e in events if e.receipt],
            }
        )
    return rows, me


@family_page("consents")
@require_GET
def consent_requests(request, case_id):
    case, access = family_case(user=request.user, case_id=case_id)
    pending = [
        c
        for c in selectors.case_consents(user=request.user, case=case)
        if c.effective_state() == Consent.State.PENDING
    ]
    rows, me = _consent_rows(request, case, pending)
    shown(request, case=case, access=access, resource="consents")
    return _page(request, "portal/requests.html", case=case, current="requests", rows=rows, me=me)


STATE_ORDER = [
    Consent.State.ACTIVE,
    Consent.State.REFUSED,
    Consent.State.WITHDRAWN,
    Consent.State.EXPIRED,
]


@family_page("consents")
@require_GET
def consents(request, case_id):
    case, access = family_case(user=request.user, case_id=case_id)
    decided = [
        c
        for c in selectors.case_consents(user=request.user, case=case)
        if c.effective_state() != Consent.State.PENDING
    ]
    rows, me = _consent_rows(request, case, decided)
    groups = [
        (state, Consent.State(state).label, [r for r in rows if r["state"] == state])
        for state in STATE_ORDER
    ]
    shown(request, case=case, access=access, resource="consents")
    return _page(
        request,
        "portal/consents.html",
        case=case,
        current="consents",
        groups=groups,
        has_any=bool(rows),
    )


@family_page("access-history")
@require_GET
def history(request, case_id):
    case, access = family_case(user=request.user, case_id=case_id)
    events = selectors.family_access_history(case=case, access=access)
    page = Paginator(events, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = selectors.describe_events(page.object_list)
    shown(request, case=case, access=access, resource="access-history")
    return _page(request, "portal/history.html", case=case, current="history", page=page, rows=rows)


# --- Consent decisions --------------------------------------------------------------------------


def _decide(request, consent, decision) -> bool:
    try:
        consent_services.consent_decide(
            actor=request.user,
            consent=consent,
            decision=decision,
            channel=ConsentEvent.Channel.PORTAL,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return False
    except PermissionDenied:  # not a guardian: the gate has already answered 404
        raise Http404 from None
    return True


def _names(consent) -> dict:
    return {
        "recipients": ", ".join(org.name for org in consent.recipients.all()),
        "categories": ", ".join(str(Category(c).label) for c in consent.categories),
        "until": formats.date_format(timezone.localtime(consent.valid_until).date()),
    }


@family_page("consents")
@require_POST
def consent_grant(request, consent_id):
    consent, case, _access = family_consent(user=request.user, consent_id=consent_id)
    if _decide(request, consent, ConsentEvent.Kind.GRANTED):
        consent.refresh_from_db(fields=["state"])
        if consent.state == Consent.State.ACTIVE:
            messages.success(
                request,
                _(
                    "You gave your consent. %(recipients)s can now see: %(categories)s, "
                    "until %(until)s. You can withdraw it at any time."
                )
                % _names(consent),
            )
            return redirect("portal:consents", case_id=case.pk)
        messages.success(
            request,
            _(
                "Your consent is recorded. It takes effect when the other guardian has given "
                "theirs too."
            ),
        )
    return redirect("portal:requests", case_id=case.pk)


@family_page("consents")
@require_POST
def consent_refuse(request, consent_id):
    consent, case, _access = family_consent(user=request.user, consent_id=consent_id)
    if _decide(request, consent, ConsentEvent.Kind.REFUSED):
        messages.success(
            request,
            _("You refused the request. Nothing is shared with %(recipients)s.") % _names(consent),
        )
        return redirect("portal:consents", case_id=case.pk)
    return redirect("portal:requests", case_id=case.pk)


@family_page("consents")
@require_http_methods(["GET", "POST"])
def consent_withdraw(request, consent_id):
    """GET: the confirmation page; POST: withdraw, effective on the recipient's next request."""
    consent, case, access = family_consent(user=request.user, consent_id=consent_id)
    if request.method == "POST":
        if _decide(request, consent, ConsentEvent.Kind.REVOKED):
            messages.success(
                request,
                _(
                    "You withdrew the consent. From now on %(recipients)s no longer sees "
                    "%(categories)s."
                )
                % _names(consent),
            )
        return redirect("portal:consents", case_id=case.pk)
    if consent.effective_state() != Consent.State.ACTIVE:
        messages.error(request, _("Only a consent in force can be withdrawn."))
        return redirect("portal:consents", case_id=case.pk)
    rows, _me = _consent_rows(request, case, [consent])
    shown(request, case=case, access=access, resource="consents")
    return _page(request, "portal/withdraw.html", case=case, current="consents", row=rows[0])


@family_page("consent-receipt")
@require_GET
def receipt(request, consent_id, event_id):
    """The signed receipt of one decision, as a compact JWS file to keep or verify offline."""
    consent, case, access = family_consent(user=request.user, consent_id=consent_id)
    event = next((e for e in consent.events.all() if e.pk == event_id and e.receipt), None)
    if event is None:
        raise Http404
    shown(
        request,
        case=case,
        access=access,
        resource="consent-receipt",
        action=AccessEvent.Action.EXPORT,
    )
    response = HttpResponse(event.receipt, content_type="application/jose")
    day = timezone.localtime(event.created_at).strftime("%Y-%m-%d")
    filename = f"consent-receipt-{day}-{event.kind}-{str(event.pk)[:8]}.jws"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- The family's own copy (GDPR Art. 15 and 20) -----------------------------------------------


def _copy(request, case_id):
    """The copy's document, logged as an export of what it holds (the same builders as the
    pages: cases.family_view)."""
    case, access = family_case(user=request.user, case_id=case_id)
    copy = family_view.family_copy(user=request.user, case=case, access=access)
    shown(
        request,
        case=case,
        access=access,
        resource="family-copy",
        action=AccessEvent.Action.EXPORT,
        categories=copy.categories,
        sources=copy.sources,
    )
    return case, copy


def _attachment(response, case, extension: str):
    day = timezone.localdate().strftime("%Y-%m-%d")
    response["Content-Disposition"] = (
        f'attachment; filename="family-copy-{day}-{str(case.pk)[:8]}.{extension}"'
    )
    return response


def _copy_json(copy) -> bytes:
    return json.dumps(copy.document, ensure_ascii=False, indent=2).encode()


def _copy_html(request, copy) -> bytes:
    return render_to_string("portal/copy.html", {"doc": copy.document}, request=request).encode()


@family_page("family-copy")
@require_GET
def copy_download(request, case_id):
    """One download: the copy as JSON (for machines) and as HTML (to read and print), zipped
    without compression."""
    case, copy = _copy(request, case_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("family-copy.json", _copy_json(copy))
        archive.writestr("family-copy.html", _copy_html(request, copy))
    return _attachment(HttpResponse(buffer.getvalue(), content_type="application/zip"), case, "zip")


@family_page("family-copy")
@require_GET
def copy_json(request, case_id):
    case, copy = _copy(request, case_id)
    response = HttpResponse(_copy_json(copy), content_type="application/json; charset=utf-8")
    return _attachment(response, case, "json")


@family_page("family-copy")
@require_GET
def copy_html(request, case_id):
    case, copy = _copy(request, case_id)
    response = HttpResponse(_copy_html(request, copy), content_type="text/html; charset=utf-8")
    return _attachment(response, case, "html")


# --- Correction requests (GDPR Art. 16) --------------------------------------------------------


@family_page("corrections")
@require_http_methods(["GET", "POST"])
def corrections(request, case_id):
    """GET: the family's correction requests and their answers, and the form to ask for one;
    POST: the request, to the responsible worker's desk."""
    case, access = family_case(user=request.user, case_id=case_id)
    page = family_view.corrections_page(case=case, access=access)
    form = CorrectionForm(request.POST or None, items=page.context["items"])
    status = 200
    if request.method == "POST":
        if form.is_valid():
            kind, item_id = form.chosen_item()
            try:
                case_services.correction_request_create(
                    actor=request.user,
                    case=case,
                    access=access,
                    item_kind=kind,
                    item_id=item_id,
                    what_is_wrong=form.cleaned_data["what_is_wrong"],
                    should_say=form.cleaned_data["should_say"],
                )
            except ValidationError as error:
                form.add_service_errors(error)
            else:
                messages.success(
                    request,
                    _(
                        "Your request was sent to your responsible worker. Their answer will "
                        "appear on this page."
                    ),
                )
                return redirect("portal:corrections", case_id=case.pk)
        status = 400
    shown(
        request,
        case=case,
        access=access,
        resource="corrections",
        categories=page.categories,
        sources=page.sources,
    )
    response = _page(
        request,
        "portal/corrections.html",
        case=case,
        current="corrections",
        form=form,
        **page.context,
    )
    response.status_code = status
    return response
