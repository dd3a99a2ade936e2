"""Every response of the test suite checked against the API's OpenAPI schema (issue 15).

The schema is generated once per session, as /api/schema/ serves it (English), and compiled
once by openapi-core; every response that Django's test client (and so DRF's APIClient) gets
for an operation of the schema is validated against it: its status code must be documented,
its content type too, and its body must fit the documented schema. A mismatch fails the test
that made the request, with openapi-core's message.

A request that names no operation of the schema (a portal page, the admin, an address that is
no route, a method the path does not have: 405) has nothing to be checked against and is left
alone; so is an answer in HTML to a request that asked for HTML (DRF's browsable API, for
people with a browser, on in development only).
"""

import contextlib
import functools
import json

from django.test import Client
from django.utils import translation
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from openapi_core import Config, OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse
from openapi_core.templating.paths.exceptions import (
    OperationNotFound,
    PathNotFound,
    ServerNotFound,
)
from openapi_core.validation.response.exceptions import ResponseValidationError

API_PREFIX = "/api/v1/"
NOT_AN_OPERATION = (PathNotFound, OperationNotFound, ServerNotFound)


class ResponseDoesNotMatchSchema(AssertionError):
    pass


@functools.cache
def schema() -> dict:
    """The schema as served (api.schema.SchemaView renders it in English)."""
    with translation.override("en"):
        generated = SchemaGenerator().get_schema(request=None, public=True)
        return json.loads(OpenApiJsonRenderer().render(generated))


@functools.cache
def openapi() -> OpenAPI:
    # The spec is validated by openapi-spec-validator in CI (.ci/run), not again per session.
    # The CSV export, the iCalendar file and the bare JWS of a receipt are text, as text/plain
    # is to openapi-core.
    text = {m: _text for m in ("text/csv", "text/calendar", "application/jose")}
    config = Config(spec_validator_cls=None, extra_media_type_deserializers=text)
    return OpenAPI.from_dict(schema(), config=config)


def _text(value: bytes, **parameters) -> str:
    return value.decode(parameters.get("charset", "utf-8"))


class _Request(DjangoOpenAPIRequest):
    """The request that got the response, for finding its operation: its body is not needed
    (and a body over the size cap cannot be read)."""

    @property
    def body(self) -> bytes:
        return b""


_unchecked: list[str] = []


@contextlib.contextmanager
def unchecked(reason: str):
    """Responses inside are not checked against the schema, for the one kind of test whose
    response cannot match it by design: a database damaged by hand (tests/test_audit_tamper.py),
    where the API must still answer and show what is stored. Say why in `reason`."""
    assert reason
    _unchecked.append(reason)
    try:
        yield
    finally:
        _unchecked.pop()


def validate(response) -> None:
    request = getattr(response, "wsgi_request", None)
    if request is None or not request.path.startswith(API_PREFIX) or _unchecked:
        return
    if response.status_code == 405:  # no such operation (openapi-core may match `{id}`)
        return
    asked_for_html = "text/html" in request.META.get("HTTP_ACCEPT", "")
    if asked_for_html and response.get("Content-Type", "").startswith("text/html"):
        return
    try:
        openapi().validate_response(_Request(request), DjangoOpenAPIResponse(response))
    except NOT_AN_OPERATION:
        return
    except ResponseValidationError as error:
        detail = error.__cause__ or error
        extra = "".join(f"\n  {e}" for e in getattr(detail, "schema_errors", []))
        body = getattr(response, "content", b"")[:600] if not response.streaming else b"(stream)"
        raise ResponseDoesNotMatchSchema(
            f"{request.method} {request.get_full_path()} answered {response.status_code} "
            f"({response.get('Content-Type', '')}), not as the schema says: {detail!r}{extra}\n"
            f"  body: {body!r}"
        ) from error


_plain_request = Client.request


def _validated_request(self, **request):
    response = _plain_request(self, **request)
    validate(response)
    return response


def install() -> None:
    """Check every response of Django's test client (DRF's APIClient is one) from now on."""
    Client.request = _validated_request  # type: ignore[method-assign]
