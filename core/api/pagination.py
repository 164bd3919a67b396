"""Pagination that lets a client ask for a larger page, for screens that show a whole set at once."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class LargePagePagination(PageNumberPagination):
    """`?page_size=` up to 500 (default 50): the staff UI's board reads a week of a whole unit
    (10 theatres, AM and PM, seven days: 140 lists), its waiting list every waiting case and its
    patient picker every patient, in one request each, at the same constant number of queries as
    a page of 50."""

    page_size_query_param = "page_size"
    max_page_size = 500
