"""The OpenAPI schema: served in English whatever the request's language, and postprocessed so
that standard tools can trust it (issue 15): the error answers every operation can give,
documented once; a summary and a security requirement on every operation; nullable references
and blank-or-URL strings as OpenAPI 3.0 can say them; and no defaults in partial updates.

The descriptions are API documentation, in English like the rest of the schema.
"""

import copy
import re

from django.template.response import SimpleTemplateResponse
from django.utils import translation
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.views import SpectacularAPIView


class SchemaView(SpectacularAPIView):
    """/api/schema/: one schema, in English, byte for byte the same whatever `Accept-Language`
    says (texts and component names: an enum named after a translated label would otherwise
    change the generated clients' class names). The view renders inside the override, since
    the lazy texts are only turned into strings when the response is rendered."""

    def dispatch(self, request, *args, **kwargs):
        with translation.override("en"):
            response = super().dispatch(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse):  # DRF's Response is one
                response.render()
        return response


ERROR_SCHEMA_NAME = "Error"

# api/exceptions.py gives every error one shape: an object with `detail` (a message) or with a
# list of messages per field that was wrong.
ERROR_SCHEMA = {
    "type": "object",
    "description": "An error: `detail` for the request as a whole, or messages per field.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {},
}

ERROR_DESCRIPTIONS = {
    "400": "Bad input: the messages say what to fix",
    "401": "Not signed in",
    "403": "Signed in, but not allowed to do this",
    "404": "No such object, or one you cannot see",
    "406": "None of the media types that Accept names is offered here",
    "413": "The body is larger than the server takes (REQUEST_BODY_MAX_BYTES)",
    "415": "The body is not JSON",
    "500": "Server error: nothing was changed; try again later",
}

READ_METHODS = {"get", "head", "options"}


def _statuses(path: str, method: str, operation: dict) -> list[str]:
    """The error statuses this operation can answer, from what the schema already says of it."""
    parameters = operation.get("parameters", [])
    statuses = []
    # Writes validate their input and their domain rules; reads validate their filters.
    if method not in READ_METHODS or any(p["in"] == "query" for p in parameters):
        statuses.append("400")
    # An operation that anyone may call lists the empty requirement among its security options,
    # or has no requirement at all (an empty list).
    security = operation.get("security", [])
    if security and {} not in security:
        statuses += ["401", "403"]
    # An id in the path names an object that may not exist or not be visible (deny as 404); DRF
    # answers a page past the end, a cursor it cannot read and an unknown `format` with 404 too.
    if any(p["in"] == "path" or p["name"] in {"page", "cursor", "format"} for p in parameters):
        statuses.append("404")
    # A body is refused before it is read if it is too large (koordinointi/limits.py), and
    # when it is not JSON (api/parsers.py).
    if "requestBody" in operation:
        statuses += ["413", "415"]
    # DRF's content negotiation refuses an Accept that names nothing the operation offers.
    statuses.append("406")
    # Any operation can fail on the server (a database that is gone, say): the request's
    # transaction is rolled back and the answer is the one error body (api/exceptions.py).
    statuses.append("500")
    return statuses


def _error_content(responses: dict) -> dict:
    """Errors come as JSON, or in the other media type a client asked for (the CSV export and
    the iCalendar file render their errors in their own type), as text there."""
    content = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}
    }
    for status, response in responses.items():
        if status.startswith("2"):
            for media_type in response.get("content", {}):
                content.setdefault(media_type, {"schema": {"type": "string"}})
    return content


NO_NUL = "^[^\\u0000]*$"


def document_error_responses(result, generator, request, public):
    """Add the error responses each operation can give, with the one error body of the API."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            # An operation without authentication (signing in, the public keys) says so with an
            # explicit empty requirement, rather than by leaving security out.
            operation.setdefault("security", [])
            operation.setdefault("summary", _summary(operation))
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, method, operation):
                responses.setdefault(status, {"description": ERROR_DESCRIPTIONS[status]})
            for parameter in operation.get("parameters", []):
                # django-filter and the paginators take an empty query value as no value.
                if parameter["in"] == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
                # Django's form fields refuse a NUL character in any text (400).
                schema = parameter.get("schema", {})
                if schema.get("type") == "string" and not (
                    {"format", "enum", "pattern"} & schema.keys()
                ):
                    schema["pattern"] = NO_NUL
            error_content = _error_content(responses)
            for status, response in responses.items():
                if status[0] in "45" and "content" not in response:
                    response["content"] = error_content
    return result


def _summary(operation: dict) -> str:
    """An operation's summary: the first sentence of its description, or else its id in words
    (`cases_notes_list`: "Cases notes list")."""
    first = re.split(r"(?<=[.:])\s|\n\n", operation.get("description", "").strip(), maxsplit=1)[0]
    first = " ".join(first.split()).rstrip(".:")
    if first and len(first) <= 120:
        return first
    return operation["operationId"].replace("_", " ").capitalize()


TIME_OF_DAY = "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?$"


def _null_branch(target: dict) -> dict:
    return {"type": target.get("type", "object"), "nullable": True, "enum": [None]}


def _fix_schema(schema, components: dict):
    """Rewrite, in place and all the way down, what OpenAPI 3.0 cannot say as drf-spectacular
    writes it:

    - a nullable reference (`allOf: [$ref]` beside `nullable: true`, with no type: nullable has
      no effect without a type, and the reference refuses null) becomes `oneOf: [$ref, null]`;
    - a string that is blank or of a format (`oneOf: [{format: uri}, {maxLength: 0}]`) becomes
      `anyOf` (a validator need not check a format, and then the empty string matches both),
      with any default beside the choice rather than inside a branch that it may not fit.
    """
    if isinstance(schema, list):
        for item in schema:
            _fix_schema(item, components)
        return
    if not isinstance(schema, dict):
        return
    all_of = schema.get("allOf")
    if schema.get("nullable") and "type" not in schema and all_of and len(all_of) == 1:
        ref = all_of[0].get("$ref", "")
        target = components.get(ref.rsplit("/", 1)[-1], {})
        schema.pop("allOf")
        schema.pop("nullable")
        schema["oneOf"] = [all_of[0], _null_branch(target)]
    if schema.get("format") == "time" and schema.get("type") == "string":
        # JSON Schema's `time` is RFC 3339's full-time, with a UTC offset; opening hours are
        # wall-clock times without one ("08:00:00"), as DRF's TimeField reads and writes them.
        schema.pop("format")
        schema["pattern"] = TIME_OF_DAY
    one_of = schema.get("oneOf")
    if one_of and any(branch == {"type": "string", "maxLength": 0} for branch in one_of):
        schema["anyOf"] = schema.pop("oneOf")
        for branch in schema["anyOf"]:
            if "default" in branch:
                schema["default"] = branch.pop("default")
    for value in schema.values():
        _fix_schema(value, components)


def _strip_defaults(schema) -> None:
    if isinstance(schema, list):
        for item in schema:
            _strip_defaults(item)
    elif isinstance(schema, dict):
        schema.pop("default", None)
        for key, value in schema.items():
            if key != "example":
                _strip_defaults(value)
        if schema.keys() == {"allOf"} and len(schema["allOf"]) == 1:
            # What drf-spectacular wrote to hold a default beside a reference: the bare reference.
            schema.update(schema.pop("allOf")[0])


def contract_for_tools(result, generator, request, public):
    """What standard tools need (issue 15): references and blank-or-format strings that OpenAPI
    3.0 validators read as meant, and PATCH request bodies without defaults.

    A default in a partial update's body tells a generated client to send that value whenever
    the caller did not set the field, so a partial update of one field would reset the others.
    The PATCH bodies (drf-spectacular's `Patched...` components, COMPONENT_SPLIT_PATCH) lose
    their defaults; if another operation shares one, the PATCH gets its own copy first.
    """
    components = result.setdefault("components", {}).setdefault("schemas", {})
    _fix_schema(result.get("paths", {}), components)
    _fix_schema(components, components)
    shared = set()
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method == "patch":
                continue
            for media in operation.get("requestBody", {}).get("content", {}).values():
                shared.add(media.get("schema", {}).get("$ref"))
    for operations in result.get("paths", {}).values():
        operation = operations.get("patch")
        if not operation:
            continue
        for media in operation.get("requestBody", {}).get("content", {}).values():
            ref = media.get("schema", {}).get("$ref")
            if not ref:
                _strip_defaults(media.get("schema", {}))
                continue
            name = ref.rsplit("/", 1)[-1]
            if ref in shared:
                name = f"Patched{name}"
                components.setdefault(name, copy.deepcopy(components[ref.rsplit("/", 1)[-1]]))
                media["schema"] = {"$ref": f"#/components/schemas/{name}"}
            _strip_defaults(components[name])
    return result


class GatedSerializerExtension(OpenApiSerializerExtension):
    """A gated field (api/serializers.py GatedSerializer) is left out for a reader without
    consent to its data category, so the schema must not call it required."""

    target_class = "api.serializers.GatedSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        required = [
            name for name in schema.get("required", []) if name not in self.target.gated_fields
        ]
        if required:
            schema["required"] = required
        else:
            schema.pop("required", None)
        return schema


class ProtectedFieldsExtension(OpenApiSerializerExtension):
    """Fields a non-disclosure marking may leave out (api/serializers.py ProtectedFieldsMixin)
    are not required either."""

    target_class = "api.serializers.ProtectedFieldsMixin"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        protected = set(self.target.protected_fields)
        required = [name for name in schema.get("required", []) if name not in protected]
        if required:
            schema["required"] = required
        else:
            schema.pop("required", None)
        return schema
