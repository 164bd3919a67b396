"""Content negotiation for the whole API: `?format=` must name one of the view's formats."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import Http404
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class ExactFormatNegotiation(DefaultContentNegotiation):
    """DRF answers an unknown `?format=` 404 but ignores an empty one and serves the default.
    Where the schema lists `format` (a plan as html or json, a report as csv or json, a calendar
    as ics or json) its enum has no "", so an empty value is refused as an unknown one is. The
    contract fuzz found `?format=` answered 200 on a calendar, then on a case plan."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        if format_suffix is None and request.query_params.get(self.settings.URL_FORMAT_OVERRIDE) == "":
            raise Http404("No such format.")
        return super().select_renderer(request, renderers, format_suffix)  # type: ignore[no-any-return]
