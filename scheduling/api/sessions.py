"""/sessions/ and /timetables/{id}/generate/: lists as the API shows them, with their cases.

A list is shown with its ordered cases and utilisation, so the views that answer with lists
live here, above theatre, which knows nothing of cases (DESIGN §1). The writes still go through
theatre's services (theatre/sessions.py, theatre/timetables.py) with theatre's input
serializers; scheduling's part of each change runs in the hooks it connects (scheduling/lists.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cached_property
from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.error_codes import raises
from core.api.fields import datetime_writer
from core.api.filters import StrictFilterBackend
from core.api.pagination import FirstPageCountingPaginator, LargePagePagination
from core.audit import Actor
from core.permissions import CoordinatorWritesOthersRead
from scheduling.api.views import IdentifiedContextMixin
from scheduling.availability import local_day_range
from scheduling.lists import (
    ListedCase,
    ListedSession,
    ListFilter,
    count_sessions,
    listed_sessions,
    session_forecast,
    sessions_for_lists,
    sessions_with_cases,
    utilisation,
)
from scheduling.predictions import durations_in
from scheduling.theatre_rules import SESSION_CANCEL_REFUSALS, SESSION_CHANGE_REFUSALS, SESSION_PLACEMENT_REFUSALS
from theatre.api.serializers import (
    GenerateSerializer,
    SessionCancelQuery,
    SessionCancelSerializer,
    SessionCreateSerializer,
    SessionUpdateSerializer,
)
from theatre.api.views import TimetableViewSet
from theatre.clashes import CLASH_REFUSALS
from theatre.locking import LOCK_REFUSALS
from theatre.models import Period, TheatreSession, Timetable
from theatre.sessions import cancel_session, create_session, update_session
from theatre.timetables import generate_sessions

# --- Output -------------------------------------------------------------------------------------


class SessionCaseSerializer(serializers.Serializer[ListedCase]):
    """A case as it appears on a list; patient identifiers only for roles allowed to see them."""

    # Left out for viewers: optional in the schema (core/api/schema.py).
    role_dependent_fields = ("patient",)

    id = serializers.IntegerField()
    reference = serializers.CharField()
    status = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    procedure = serializers.CharField()
    levels = serializers.ListField(child=serializers.CharField())
    anaesthesia = serializers.CharField()
    surgeon = serializers.IntegerField(source="surgeon_id")
    estimated_minutes = serializers.IntegerField()
    patient = serializers.SerializerMethodField()

    @cached_property
    def _stamp(self) -> Callable[[dt.datetime], str]:
        return datetime_writer()

    @cached_property
    def _identified(self) -> bool:
        # Read once for a page's 200 cases: a serializer's context is looked up through its root.
        return bool(self.context.get("identified", False))

    def get_patient(self, case: ListedCase) -> dict[str, str] | None:
        return {"name": f"{case.patient_given_name} {case.patient_family_name}", "nhs_number": case.patient_nhs_number}

    def to_representation(self, instance: ListedCase) -> dict[str, Any]:
        """The fields above, written out: DRF's generic walk (each field's get_attribute, then its
        to_representation) took 7.6 ms of CPU for a week's 200 cases, this 4.9 ms (a loaded
        machine). The two are pinned to agree key for key, in order
        (tests/scheduling/test_booking_sessions_list.py)."""
        stamp = self._stamp
        data = {
            "id": instance.id,
            "reference": instance.reference,
            "status": instance.status,
            "start": stamp(instance.start),
            "end": stamp(instance.end),
            "procedure": instance.procedure,
            "levels": list(instance.levels),
            "anaesthesia": instance.anaesthesia,
            "surgeon": instance.surgeon_id,
            "estimated_minutes": instance.estimated_minutes,
        }
        # Viewers read lists without patient identifiers (DESIGN §3): not even the key.
        if self._identified:
            data["patient"] = self.get_patient(instance)
        return data


class ForecastOutput(serializers.Serializer[Any]):
    expected_end = serializers.DateTimeField(
        allow_null=True, help_text="Expected end of the last case (null with no cases)."
    )
    p_overrun = serializers.FloatField(help_text="Probability that the booked cases run past the session end.")


# It renders a ListedSession (scheduling/lists.py), a list read as plain values; its declared
# fields, which the schema reads, are the model's.
class SessionSerializer(serializers.ModelSerializer[TheatreSession]):
    """A list for reading: its ordered cases and how full it is. Needs sessions_with_cases()."""

    site = serializers.IntegerField(source="theatre.site_id", read_only=True)
    theatre_name = serializers.CharField(source="theatre.name", read_only=True)
    # Declared so the schema says what a list made by hand (not from a timetable) answers: "".
    period = serializers.ChoiceField(
        choices=Period.choices, allow_blank=True, read_only=True, help_text="Blank for a list not made by a timetable."
    )
    surgeon_name = serializers.CharField(source="surgeon.name", read_only=True)
    anaesthetist_name = serializers.CharField(source="anaesthetist.name", read_only=True, default=None)
    cases = serializers.SerializerMethodField()
    utilisation = serializers.SerializerMethodField()
    forecast = serializers.SerializerMethodField(
        help_text="Over the cases still to finish: null for a cancelled or finished list (see actual_end)."
    )
    actual_start = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="The first touch start recorded on the list (theatre times)."
    )
    actual_end = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="The last out_of_theatre recorded on the list (theatre times)."
    )

    class Meta:
        model = TheatreSession
        fields = [
            "id",
            "site",
            "theatre",
            "theatre_name",
            "timetable",
            "period",
            "start",
            "end",
            "surgeon",
            "surgeon_name",
            "anaesthetist",
            "anaesthetist_name",
            "status",
            "notes",
            "cases",
            "utilisation",
            "forecast",
            "actual_start",
            "actual_end",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    # One case serializer for every list on the page (a ListSerializer has one child): DRF
    # deep-copies a serializer's fields each time one is built, which for a week of lists cost
    # more than rendering the cases themselves.
    @cached_property
    def _case_output(self) -> SessionCaseSerializer:
        return SessionCaseSerializer(context=self.context)

    # The method fields take a ListedSession; DRF's generic walk, which the tests compare the
    # written-out rendering with, gives them the model with its listed_cases set.
    def get_cases(self, session: ListedSession) -> list[dict[str, Any]]:
        return [self._case_output.to_representation(case) for case in session.listed_cases]

    @extend_schema_field(ForecastOutput(allow_null=True))
    def get_forecast(self, session: ListedSession) -> dict[str, Any] | None:
        cases = session.listed_cases
        # One Durations for every list on the page: the history is learned once per request.
        result = session_forecast(session=session, cases=cases, durations=durations_in(self.context))
        if result is None:
            return None
        # Four decimals: a probability of 5e-11 reads as 0 to everyone who looks at a list.
        # ForecastOutput's two fields written out, as this serializer's own are (pinned to DRF's
        # rendering in tests/scheduling/test_booking_sessions_list.py).
        expected_end = result.expected_end
        return {
            "expected_end": None if expected_end is None else self._stamp(expected_end),
            "p_overrun": float(round(result.p_overrun, 4)),
        }

    def get_utilisation(self, session: ListedSession) -> dict[str, Any]:
        cases = session.listed_cases
        return utilisation(session=session, intervals=[(c.start, c.end) for c in cases]).as_dict()

    @cached_property
    def _stamp(self) -> Callable[[dt.datetime], str]:
        return datetime_writer()

    def to_representation(self, instance: ListedSession) -> dict[str, Any]:  # type: ignore[override]
        """The fields above, written out, as SessionCaseSerializer's are: DRF's generic walk (21
        fields' get_attribute and to_representation, per list) was about a fifth of the week
        list's in-process time in a profile (bench/session_list.py, issue 18). Pinned to agree
        with DRF's own rendering of the model key for key, in order
        (tests/scheduling/test_booking_sessions_list.py)."""
        stamp = self._stamp
        actual_start, actual_end = instance.actual_start, instance.actual_end
        return {
            "id": instance.id,
            "site": instance.site_id,
            "theatre": instance.theatre_id,
            "theatre_name": instance.theatre_name,
            "timetable": instance.timetable_id,
            "period": instance.period,
            "start": stamp(instance.start),
            "end": stamp(instance.end),
            "surgeon": instance.surgeon_id,
            "surgeon_name": instance.surgeon_name,
            "anaesthetist": instance.anaesthetist_id,
            "anaesthetist_name": instance.anaesthetist_name,
            "status": instance.status,
            "notes": instance.notes,
            "cases": self.get_cases(instance),
            "utilisation": self.get_utilisation(instance),
            "forecast": self.get_forecast(instance),
            "actual_start": stamp(actual_start) if actual_start is not None else None,
            "actual_end": stamp(actual_end) if actual_end is not None else None,
            "created_at": stamp(instance.created_at),
            "updated_at": stamp(instance.updated_at),
        }


# --- Views --------------------------------------------------------------------------------------


class SessionFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter has no type hints
    date_from = django_filters.DateFilter(method="filter_date_from", label="Lists starting on or after this date")
    date_to = django_filters.DateFilter(method="filter_date_to", label="Lists starting on or before this date")
    theatre = django_filters.NumberFilter(field_name="theatre_id")
    surgeon = django_filters.NumberFilter(field_name="surgeon_id")
    site = django_filters.NumberFilter(field_name="theatre__site_id")
    status = django_filters.MultipleChoiceFilter(choices=TheatreSession._meta.get_field("status").choices)

    class Meta:
        model = TheatreSession
        fields = ["date_from", "date_to", "theatre", "surgeon", "site", "status"]

    def list_filter(self) -> ListFilter:
        """The validated parameters as scheduling.lists reads them (`is_valid()` first)."""
        data = self.form.cleaned_data
        # Dates in filters are days at the unit (TIME_ZONE), drawn as availability draws them.
        starts_from = starts_before = None
        if data.get("date_from") is not None:
            starts_from, _ = local_day_range(date_from=data["date_from"], date_to=data["date_from"])
        if data.get("date_to") is not None:
            _, starts_before = local_day_range(date_from=data["date_to"], date_to=data["date_to"])
        # NumberFilter cleans to a Decimal; the strict backend has let only whole numbers through.
        whole = {name: None if data.get(name) is None else int(data[name]) for name in ("theatre", "surgeon", "site")}
        return ListFilter(
            starts_from=starts_from,
            starts_before=starts_before,
            theatre_id=whole["theatre"],
            surgeon_id=whole["surgeon"],
            site_id=whole["site"],
            statuses=tuple(data.get("status") or ()),
        )

    def filter_queryset(self, queryset: Any) -> Any:
        # One definition of what the parameters select, for the ORM and the list's SQL alike.
        return self.list_filter().apply(queryset)

    # The declared filters name their method for the schema; filter_queryset above applies them.
    def filter_date_from(self, queryset: Any, name: str, value: dt.date) -> Any:  # pragma: no cover
        return queryset

    filter_date_to = filter_date_from


class ListsPagination(LargePagePagination):
    # A week of lists fits on one page, counted without a COUNT query: one query less for the
    # week list (bench/session_list.py).
    django_paginator_class = FirstPageCountingPaginator


class _FilteredLists:
    """The lists a filter selects, as the paginator reads them: a slice is `listed_sessions`
    (rows, two queries), the count one COUNT."""

    ordered = True  # start, then theatre

    def __init__(self, filters: ListFilter) -> None:
        self._filters = filters

    def count(self) -> int:
        return count_sessions(filters=self._filters)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[ListedSession]:
        offset = index.start or 0
        return listed_sessions(
            filters=self._filters, offset=offset, limit=None if index.stop is None else index.stop - offset
        )


class SessionViewSet(IdentifiedContextMixin, viewsets.ModelViewSet[TheatreSession]):
    """Lists with their ordered cases and utilisation. DELETE cancels (a list is never erased)."""

    permission_classes = [CoordinatorWritesOthersRead]
    pagination_class = ListsPagination
    serializer_class = SessionSerializer
    filterset_class = SessionFilter

    def get_queryset(self) -> QuerySet[TheatreSession]:
        return sessions_for_lists().order_by("start", "theatre_id", "id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The parameters checked as every list endpoint's are, then the page read as rows
        # (scheduling.lists.listed_sessions), not as models through the filtered queryset.
        filterset = StrictFilterBackend().valid_filterset(request, TheatreSession.objects.none(), self)
        page = self.paginate_queryset(_FilteredLists(filterset.list_filter()))  # type: ignore[arg-type]
        assert page is not None  # noqa: S101 - pagination_class is set
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        (session,) = sessions_with_cases([self.get_object()])
        return Response(self.get_serializer(session).data)

    def _read(self, session_id: int, *, status_code: int = status.HTTP_200_OK) -> Response:
        (session,) = sessions_with_cases([sessions_for_lists().get(pk=session_id)])
        output = SessionSerializer(session, context=self.get_serializer_context())  # type: ignore[arg-type]
        return Response(output.data, status=status_code)

    @raises(409, *CLASH_REFUSALS, *SESSION_PLACEMENT_REFUSALS)
    @extend_schema(request=SessionCreateSerializer, responses={201: SessionSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = SessionCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        session = create_session(actor=Actor.of(request.user), **params.validated_data)
        return self._read(session.pk, status_code=status.HTTP_201_CREATED)

    @raises(409, *LOCK_REFUSALS, *CLASH_REFUSALS, *SESSION_PLACEMENT_REFUSALS, *SESSION_CHANGE_REFUSALS)
    @extend_schema(request=SessionUpdateSerializer, responses={200: SessionSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        session = self.get_object()
        params = SessionUpdateSerializer(
            data=request.data, partial=kwargs.get("partial", False), context={"session": session}
        )
        params.is_valid(raise_exception=True)
        changes = dict(params.validated_data)
        override = changes.pop("override", False)
        reason = changes.pop("reason", "")
        update_session(session=session, changes=changes, actor=Actor.of(request.user), override=override, reason=reason)
        return self._read(session.pk)

    @raises(409, *LOCK_REFUSALS, *SESSION_CANCEL_REFUSALS)
    # The reason may come as a JSON body, which DRF's parsers read like any write's.
    @raises(400, "parse_error")
    @raises(415, "unsupported_media_type")
    @extend_schema(parameters=[SessionCancelQuery], request=None, responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Cancel the list: {reason, override?} in the body or the query string."""
        session = self.get_object()
        params = (
            SessionCancelSerializer(data=request.data)
            if request.data
            else SessionCancelQuery(data=request.query_params)
        )
        params.is_valid(raise_exception=True)
        cancel_session(session=session, actor=Actor.of(request.user), **params.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @raises(409, *LOCK_REFUSALS, *SESSION_CANCEL_REFUSALS)
    @extend_schema(request=SessionCancelSerializer, responses={200: SessionSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel the list and return it: {reason, override?}."""
        session = self.get_object()
        params = SessionCancelSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        cancel_session(session=session, actor=Actor.of(request.user), **params.validated_data)
        return self._read(session.pk)


# Declared so the schema shows one answer, not a page of a list view with `page` (never read:
# `?page=abc` was answered 201) and the timetable filters as its query parameters.
class GeneratedSessions(serializers.Serializer[Any]):
    """The lists generating created: all of them, not a page."""

    count = serializers.IntegerField(help_text="How many lists were created.")
    results = SessionSerializer(many=True, help_text="The lists created, by start.")


class TimetableGenerateViewSet(IdentifiedContextMixin, viewsets.GenericViewSet[Timetable]):
    """Registered with the prefix `timetables` beside theatre's TimetableViewSet; it only adds
    /timetables/{id}/generate/, which answers with the lists created as /sessions/ shows them."""

    permission_classes = [CoordinatorWritesOthersRead]
    # The timetable is found by its id alone: the list filters of /timetables/ (`?active=false`
    # made an existing timetable 404) are not this action's, and the schema does not list them.
    queryset = TimetableViewSet.queryset
    filter_backends: list[Any] = []
    serializer_class = SessionSerializer

    @raises(409, *CLASH_REFUSALS, *SESSION_PLACEMENT_REFUSALS)
    @extend_schema(request=GenerateSerializer, responses={201: GeneratedSessions})
    @action(detail=True, methods=["post"])
    def generate(self, request: Request, pk: str | None = None) -> Response:
        """Create the timetable's lists in {date_from, date_to}; returns only the lists created."""
        timetable = self.get_object()
        params = GenerateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        created = generate_sessions(timetable=timetable, actor=Actor.of(request.user), **params.validated_data)
        sessions = sessions_with_cases(sessions_for_lists().filter(pk__in=[s.pk for s in created]).order_by("start"))
        # A ListedSession, not the model, as every SessionSerializer renders (scheduling/lists.py).
        data = SessionSerializer(sessions, many=True, context=self.get_serializer_context()).data  # type: ignore[arg-type]
        return Response({"count": len(data), "results": data}, status=status.HTTP_201_CREATED)
