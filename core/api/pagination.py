"""Pagination that lets a client ask for a larger page, for screens that show a whole set at once."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from core.api.filters import StrictPageNumberPagination


class FirstPageCountingPaginator(Paginator[Any]):
    """Django's paginator, except that a first page with room to spare is its own count: no
    SELECT COUNT(*) when every row fits on page 1 (a week of lists on the board does). A full
    first page counts as usual; other pages are unchanged."""

    def page(self, number: int | str) -> Page[Any]:
        try:
            first = int(number) == 1
        except (TypeError, ValueError):
            first = False
        if not first:
            return super().page(number)
        rows = list(self.object_list[: self.per_page])
        if len(rows) < self.per_page:
            self.__dict__["count"] = len(rows)  # Paginator.count is a cached_property
        return Page(rows, 1, self)


class LargePagePagination(StrictPageNumberPagination):
    """`?page_size=` up to 500 (default 50): the staff UI's board reads a week of a whole unit
    (10 theatres, AM and PM, seven days: 140 lists), its waiting list every waiting case and its
    patient picker every patient, in one request each, at the same constant number of queries as
    a page of 50.

    Strict like every query parameter (core/api/filters.py): a `page_size` that is not one whole
    number from 1 to 500 is a 400 naming it, never silently the default page."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int | None:
        values = request.query_params.getlist(self.page_size_query_param)
        if values and (len(values) > 1 or not values[0].isdigit() or not 1 <= int(values[0]) <= self.max_page_size):
            raise serializers.ValidationError(
                {self.page_size_query_param: [f"Give one whole number from 1 to {self.max_page_size}."]}
            )
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, object]]:
        parameters: list[dict[str, object]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters
