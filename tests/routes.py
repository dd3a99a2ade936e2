"""The URL patterns of the API and the portal, read from Django's URL resolver, so that the tests
that walk every route (the authorization matrices, the disclosure-parity test) cover a new route
without anyone listing it."""

import re

from django.urls import URLPattern, URLResolver, get_resolver


def walk(patterns, prefix=""):
    """(route, callback) of every pattern below `patterns`, routes joined with their prefixes."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def template_of(route: str) -> str:
    """'api/v1/cases/<uuid:case_pk>/^notes/(?P<pk>[0-9a-f...]{12})/$' -> the same as
    '/api/v1/cases/{case_pk}/notes/{pk}/'."""
    template = route.replace("^", "").replace("$", "")
    template = re.sub(r"\\\.\(\?P<format>[^)]*\)/\?", ".{format}", template)
    template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", template)
    template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", template)
    return "/" + template


def methods_of(callback) -> frozenset[str]:
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route
        # DRF adds "head" to a route's actions once it has served a GET: not a method of its own.
        return frozenset(method.upper() for method in actions if method != "head")
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:  # a plain function view: it may answer any method
        return frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
    return frozenset(
        method.upper()
        for method in view_class.http_method_names
        if method not in ("options", "head", "trace") and hasattr(view_class, method)
    )


def api_patterns() -> dict[str, frozenset[str]]:
    """{template: methods} of every URL pattern under /api/, format-suffix forms included."""
    found: dict[str, frozenset[str]] = {}
    for route, callback in walk(get_resolver().url_patterns):
        template = template_of(route)
        if template.startswith("/api/"):
            found[template] = found.get(template, frozenset()) | methods_of(callback)
    return found


def api_callbacks() -> dict[str, list]:
    """{template: [callbacks]} of every URL pattern under /api/ (a template may have several)."""
    found: dict[str, list] = {}
    for route, callback in walk(get_resolver().url_patterns):
        template = template_of(route)
        if template.startswith("/api/"):
            found.setdefault(template, []).append(callback)
    return found


def base_of(template: str) -> str:
    """The table row of a format-suffix form: '/api/v1/cases/{pk}.{format}' -> '.../{pk}/'."""
    return template.replace(".{format}", "/")


def params_of(template: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", template))


def fill(template: str, kwargs: dict) -> str:
    return re.sub(r"{(\w+)}", lambda m: "json" if m[1] == "format" else str(kwargs[m[1]]), template)


def portal_patterns() -> dict[str, str]:
    """{route name: route} of every pattern under /portal/, as Django writes it
    ('/portal/cases/<uuid:case_id>/')."""
    found = {}

    def inner(patterns, prefix, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                name = pattern.namespace or namespace
                yield from inner(pattern.url_patterns, prefix + str(pattern.pattern), name)
            elif isinstance(pattern, URLPattern) and namespace == "portal":
                yield pattern.name, prefix + str(pattern.pattern)

    for name, route in inner(get_resolver().url_patterns, "/", None):
        found[name] = route
    return found


def portal_params_of(route: str) -> set[str]:
    return set(re.findall(r"<(?:\w+:)?(\w+)>", route))


def portal_fill(route: str, values: dict) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m[1]]), route)
