"""OPTIONS answers with the view's name and media types only.

DRF's default metadata describes every writable field by building the view's serializer, which
fails (500) on views that pick their serializer per action and have no `serializer_class`; the
OpenAPI schema already describes the fields, truthfully and in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.metadata import BaseMetadata
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

if TYPE_CHECKING:  # DRF imports this module while defining APIView
    from rest_framework.views import APIView


class MinimalMetadata(BaseMetadata):
    def determine_metadata(self, request: Request, view: APIView) -> dict[str, Any]:
        # JSON whatever `?format=` asked for: a CSV or calendar renderer cannot draw this.
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = "application/json"
        return {
            "name": view.get_view_name(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }
