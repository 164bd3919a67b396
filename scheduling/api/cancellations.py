"""GET /cancel-reasons/: every reason `POST /cases/{id}/cancel/` accepts, with its category (DESIGN §5.1)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduling.booking import NOTE_REQUIRED, REASON_CATEGORY, CancelReason
from scheduling.models import CancelCategory

CANCEL_REASON = inline_serializer(
    "CancelReasonInfo",
    {
        "code": serializers.CharField(help_text="The `reason` to send to POST /cases/{id}/cancel/."),
        "label": serializers.CharField(),
        "category": serializers.ChoiceField(choices=CancelCategory.choices),
        "note_required": serializers.BooleanField(),
        "in_theatre_only": serializers.BooleanField(help_text="Only for a case in theatre, and its only reason."),
    },
    many=True,
)


class CancelReasonsView(APIView):
    """Every role reads the reasons, e.g. for a form's dropdown."""

    @extend_schema(responses={200: CANCEL_REASON}, tags=["cases"])
    def get(self, request: Request) -> Response:
        return Response(
            [
                {
                    "code": reason.value,
                    "label": str(reason.label),
                    "category": REASON_CATEGORY[reason].value,
                    "note_required": reason in NOTE_REQUIRED,
                    "in_theatre_only": reason == CancelReason.ABANDONED_IN_THEATRE,
                }
                for reason in CancelReason
            ]
        )
