"""OpenAPI schema postprocessing: the error answers every operation can give, documented once.

The descriptions are API documentation, in English like the rest of the schema.
"""

from drf_spectacular.extensions import OpenApiSerializerExtension

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
}

READ_METHODS = {"get", "head", "options"}


def _statuses(path: str, method: str, operation: dict) -> list[str]:
    """The error statuses this operation can answer, from what the schema already says of it."""
    parameters = operation.get("parameters", [])
    statuses = []
    # Writes validate their input and their domain rules; reads validate their filters.
    if method not in READ_METHODS or any(p["in"] == "query" for p in parameters):
        statuses.append("400")
    # An operation that anyone may call lists the empty requirement among its security options.
    if {} not in operation.get("security", [{}]):
        statuses += ["401", "403"]
    # An id in the path names an object that may not exist or not be visible (deny as 404); DRF
    # answers a page past the end, a cursor it cannot read and an unknown `format` with 404 too.
    if any(p["in"] == "path" or p["name"] in {"page", "cursor", "format"} for p in parameters):
        statuses.append("404")
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
                if status.startswith("4") and "content" not in response:
                    response["content"] = error_content
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
