"""Page-number pagination with a client-chosen page size, capped."""

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

if TYPE_CHECKING:  # what the mixin is mixed into, for mypy
    from rest_framework.pagination import BasePagination as _PaginationBase
else:
    _PaginationBase = object


class StrictPageSizeMixin(_PaginationBase):
    """A `page_size` that is not a whole number from 1 to `max_page_size` is refused with 400,
    not silently replaced by the default or the cap; an empty one means the default."""

    # Set by the class this is mixed into (the mixin needs all three).
    page_size: int | None
    page_size_query_param: str
    max_page_size: int

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return self.page_size
        size = int(raw) if raw.isdigit() and len(raw) <= 6 else 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        _("Give the page size as a whole number from 1 to %(max)d.")
                        % {"max": self.max_page_size}
                    ]
                }
            )
        return size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters

    def get_paginated_response_schema(self, schema):
        # DRF's example cursor URL ends in a stray quote, which is no URI (lint: example invalid).
        response = super().get_paginated_response_schema(schema)
        for name in ("next", "previous"):
            field = response["properties"].get(name, {})
            if isinstance(field.get("example"), str):
                field["example"] = field["example"].rstrip('"')
        return response


class Pagination(StrictPageSizeMixin, PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
