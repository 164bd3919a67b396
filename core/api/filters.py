"""The project's filter backend: django-filter, with the strict query-string rule of core/api/strict.py.

django-filter reads `?surgeon=` (given, but empty) as "no filter"; the schema says the value is
an integer, so an empty one is refused with 400 naming it, as every other API parameter is.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers
from rest_framework.request import Request


class StrictFilterBackend(DjangoFilterBackend):  # type: ignore[misc]
    def filter_queryset(self, request: Request, queryset: QuerySet[Model], view: Any) -> QuerySet[Model]:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is not None:
            empty = [name for name in filterset.filters if request.query_params.get(name, None) == ""]
            if empty:
                raise serializers.ValidationError({name: ["This parameter may not be empty."] for name in empty})
        result: QuerySet[Model] = super().filter_queryset(request, queryset, view)
        return result
