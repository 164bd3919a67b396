"""The project's filter backend and pagination, with the strict query-string rule of core/api/strict.py.

django-filter is lenient where the schema is exact: `?surgeon=` (empty) reads as "no filter",
`?active=null` as "either", `?weekday=0.5` as a number, and a parameter given twice takes its
last value. Each of those is refused here with 400 naming the parameter. A `page` that is not
one whole number is 404 `not_found`, as DRF answers a page past the end.
"""

from __future__ import annotations

import re
from typing import Any

import django_filters
from django.db.models import Model, QuerySet
from django_filters import utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

_WHOLE = re.compile(r"^-?[0-9]+$")
_BOOLEAN = {"true", "false"}


def _problem(name: str, values: list[str], filter_: django_filters.Filter) -> str | None:
    if len(values) > 1 and not isinstance(filter_, django_filters.MultipleChoiceFilter):
        return "Give this parameter once."
    for value in values:
        if value == "":
            return "This parameter may not be empty."
        if isinstance(filter_, django_filters.BooleanFilter) and value not in _BOOLEAN:
            return "Must be true or false."
        if isinstance(filter_, django_filters.NumberFilter | django_filters.ModelChoiceFilter) and not _WHOLE.match(
            value
        ):
            return "Must be a whole number."
    return None


class StrictFilterBackend(DjangoFilterBackend):  # type: ignore[misc]
    def _refuse_problems(self, request: Request, filterset: django_filters.FilterSet) -> None:
        problems = {
            name: [problem]
            for name, filter_ in filterset.filters.items()
            if name in request.query_params
            and (problem := _problem(name, request.query_params.getlist(name), filter_)) is not None
        }
        if problems:
            raise serializers.ValidationError(problems)

    def filter_queryset(self, request: Request, queryset: QuerySet[Model], view: Any) -> QuerySet[Model]:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is not None:
            self._refuse_problems(request, filterset)
        result: QuerySet[Model] = super().filter_queryset(request, queryset, view)
        return result

    def valid_filterset(self, request: Request, queryset: QuerySet[Model], view: Any) -> Any:
        """The view's filterset with its parameters checked as `filter_queryset` checks them (a
        400 naming each problem), for a view that reads its rows without the filtered queryset."""
        filterset = self.get_filterset(request, queryset, view)
        self._refuse_problems(request, filterset)
        if not filterset.is_valid():
            raise utils.translate_validation(filterset.errors)
        return filterset


class StrictPageNumberPagination(PageNumberPagination):
    def get_page_number(self, request: Request, paginator: Any) -> Any:
        values = request.query_params.getlist(self.page_query_param)
        if values and (len(values) > 1 or not values[0].isdigit()):
            raise exceptions.NotFound("Invalid page.")
        return super().get_page_number(request, paginator)
