"""The coordinators' report page at /reports/ (issue 18): the suppressed indicators as bar
charts drawn on the server (SVG, no script, no inline style: the CSP holds), each with a table
beside it, in Finnish, Swedish and English, with CSV and JSON links to the same figures.

Coordinators sign in where workers already do: the admin's sign-in (the demo's coordinator is
staff) or their organisation's provider at /signin/; both leave a session this page reads."""

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cases.models import Organisation
from reports import selectors

LANGUAGES = ("fi", "sv", "en")
WIDTH, HEIGHT, TOP, BOTTOM, LEFT = 640, 200, 20, 36, 8


def chart(values: list[dict], threshold: int) -> dict:
    """The bars of one indicator: geometry for the template's SVG, one bar per month; a
    withheld month has no bar, only its "< threshold" label."""
    shown = [entry["value"] for entry in values if entry["value"] is not None]
    top = max(shown, default=0) or 1
    step = (WIDTH - 2 * LEFT) / max(len(values), 1)
    plot = HEIGHT - TOP - BOTTOM
    bars = []
    for index, entry in enumerate(values):
        value = entry["value"]
        height = 0 if value is None else round(plot * value / top, 1)
        x = round(LEFT + index * step + step * 0.15, 1)
        bars.append(
            {
                "x": x,
                "y": round(TOP + plot - height, 1),
                "width": round(step * 0.7, 1),
                "height": height,
                "centre": round(x + step * 0.35, 1),
                "label": f"< {threshold}" if value is None else _number(value),
                "label_y": round(TOP + plot - height - 4, 1),
                "month": entry["month"],
                "suppressed": value is None,
            }
        )
    return {"bars": bars, "width": WIDTH, "height": HEIGHT, "axis_y": HEIGHT - BOTTOM + 16}


def _number(value) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.1f}".replace(".", "," if translation.get_language() != "en" else ".")
    return str(int(value))


@never_cache
@require_GET
def report_page(request):
    if not request.user.is_authenticated:
        return redirect(f"/admin/login/?{urlencode({'next': request.get_full_path()})}")
    language = request.GET.get("lang")
    if language not in LANGUAGES:
        language = (translation.get_language() or "fi")[:2]
        language = language if language in LANGUAGES else "fi"
    with translation.override(language):
        status = 200
        try:
            page = selectors.report_page(user=request.user, params=request.GET)
        except PermissionDenied:
            return render(request, "api/report_denied.html", {"lang": language}, status=403)
        except ValidationError as error:
            page = None
            errors = [message for messages in error.message_dict.values() for message in messages]
            status = 400
        if page is None:
            response = render(
                request,
                "api/report_page.html",
                {"lang": language, "errors": errors, "kinds": Organisation.Kind.choices},
                status=status,
            )
        else:
            report = page["report"]
            query = {
                key: value
                for key, value in {
                    "area": report["area"],
                    "municipality": report["municipality"] or "",
                    "organisation_kind": report["organisation_kind"] or "",
                    "from": report["from"],
                    "to": report["to"],
                }.items()
                if value
            }
            indicators = [
                {
                    **indicator,
                    "chart": chart(indicator["values"], report["threshold"]),
                    "cells": [
                        f"< {report['threshold']}"
                        if entry["value"] is None
                        else _number(entry["value"])
                        for entry in indicator["values"]
                    ],
                    "part_rows": [
                        {
                            "label": part["label"],
                            "cells": [
                                f"< {report['threshold']}"
                                if entry["value"] is None
                                else _number(entry["value"])
                                for entry in part["values"]
                            ],
                        }
                        for part in indicator["parts"] or ()
                    ],
                }
                for indicator in report["indicators"]
            ]
            response = render(
                request,
                "api/report_page.html",
                {
                    "lang": language,
                    "page": page,
                    "report": report,
                    "indicators": indicators,
                    "kinds": Organisation.Kind.choices,
                    "query": urlencode(query),
                    "json_query": urlencode({**query, "format": "json"}),
                },
                status=status,
            )
        response.headers["Content-Language"] = language
        return response
