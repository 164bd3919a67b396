"""The FHIR R4 HTTP interface at /fhir/R4/: metadata, read, search (GET and POST _search), and the
referral intake (POST ServiceRequest). Every answer is application/fhir+json; every error an
OperationOutcome (fhir/outcomes.py), never an HTML page.

Not part of the OpenAPI schema (that describes /api/v1/); the CapabilityStatement describes this.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, FormParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.parsers import SafeJSONParser
from core.api.token_auth import TokenAuthentication
from core.audit import Actor, record_reads
from core.permissions import HasRole
from core.roles import Role, can_see_patient_identifiers, has_role
from fhir import intake, reads
from fhir.api.registry import TYPES, ResourceType
from fhir.outcomes import FhirError, not_found, outcome_for
from fhir.reads import Page
from fhir.search import start_search
from scheduling.models import Patient

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"


class FhirRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "json"
    charset = "utf-8"


class FhirJSONParser(SafeJSONParser):
    media_type = FHIR_JSON


class AlwaysFhir(BaseContentNegotiation):
    """Whatever the Accept header says, the answer is FHIR JSON (the one format served)."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> Any:
        for parser in parsers:
            if parser.media_type.split(";")[0] == (request.content_type or "").split(";")[0].strip():
                return parser
        return None

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> Any:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


@extend_schema(exclude=True)
class FhirView(APIView):
    # Token first: an anonymous request gets 401 with `WWW-Authenticate: Token`, as a FHIR client expects.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [HasRole]
    renderer_classes = [FhirRenderer]
    parser_classes = [FhirJSONParser, SafeJSONParser, FormParser]
    content_negotiation_class = AlwaysFhir

    def handle_exception(self, exc: Exception) -> Response:
        authenticate = None
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            authenticate = self.get_authenticate_header(self.request)
        code, body = outcome_for(exc)
        response = Response(body, status=code)
        if authenticate:
            response["WWW-Authenticate"] = authenticate
        return response

    def base(self) -> str:
        return self.request.build_absolute_uri("/fhir/R4").rstrip("/")

    def kind(self, name: str) -> ResourceType:
        found = TYPES.get(name)
        if found is None:
            raise FhirError(status.HTTP_404_NOT_FOUND, "not-supported", f"Resource type {name!r} is not served here.")
        if found.identifiers_only and not can_see_patient_identifiers(self.request.user):
            raise exceptions.PermissionDenied(
                "Your role reads lists without patient identifiers: no Patient resources."
            )
        return found

    def identified(self) -> bool:
        return can_see_patient_identifiers(self.request.user)

    def audit(self, interaction: str, shown: list[tuple[int, str]]) -> None:
        """One audit row per patient record disclosed (NHS IG), in one insert."""
        user = self.request.user
        if shown and isinstance(user, User):
            record_reads(
                actor=Actor.of(user),
                action=f"fhir.{interaction}",
                reads=[(Patient, str(patient_id), {"resource": resource}) for patient_id, resource in shown],
            )


def _listed(params: QueryDict) -> dict[str, list[str]]:
    return {name: params.getlist(name) for name in params}


class MetadataView(FhirView):
    def get(self, request: Request) -> Response:
        return Response(capability_statement(self.base()))


class TypeView(FhirView):
    """GET: search. POST: create (ServiceRequest only: the referral intake)."""

    def get(self, request: Request, resource_type: str) -> Response:
        return self.search(resource_type, _listed(request.query_params), via_post=False)

    def post(self, request: Request, resource_type: str) -> Response:
        kind = self.kind(resource_type)
        if not kind.create:
            raise exceptions.MethodNotAllowed("POST", f"{resource_type} cannot be created here.")
        if not has_role(request.user, Role.COORDINATOR):
            raise exceptions.PermissionDenied("Only coordinators add cases to the waiting list.")
        assert isinstance(request.user, User)  # noqa: S101 - HasRole passed
        case, created = intake.receive_referral(actor=Actor.of(request.user), body=request.data)
        resource = reads.service_request_of(case, identified=True)
        response = Response(resource, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
        response["Location"] = f"{self.base()}/ServiceRequest/{case.pk}"
        return response

    def search(self, resource_type: str, params: dict[str, list[str]], *, via_post: bool) -> Response:
        kind = self.kind(resource_type)
        search = start_search(params, known=kind.params, prefer=self.request.headers.get("Prefer", ""))
        page: Page = kind.search(search, self.identified())
        self.audit("search", page.shown)
        return Response(self.bundle(kind.name, search, page, via_post=via_post))

    def bundle(self, name: str, search: Any, page: Page, *, via_post: bool) -> dict[str, Any]:
        base = self.base()
        # A POST search keeps its parameters (an NHS number) out of URLs, links included.
        hidden = via_post and any(param == "identifier" for param, _ in search.used)
        links = [
            {
                "relation": "self",
                "url": f"{base}/{name}/_search" if hidden else f"{base}/{name}?{search.query_string()}",
            }
        ]
        following = search.offset + search.count
        if search.count and following < page.total and not hidden:
            links.append({"relation": "next", "url": f"{base}/{name}?{search.query_string(offset=following)}"})
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": timezone.now().isoformat(),
            "total": page.total,
            "link": links,
            "entry": [
                {
                    "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
                    "resource": resource,
                    "search": {"mode": "match"},
                }
                for resource in page.resources
            ],
        }


class SearchPostView(TypeView):
    """POST /fhir/R4/{type}/_search with a form body: the same search, its parameters out of URLs."""

    def get(self, request: Request, resource_type: str) -> Response:
        raise exceptions.MethodNotAllowed("GET", "Use POST for _search, or GET on the type.")

    def post(self, request: Request, resource_type: str) -> Response:
        if not isinstance(request.data, QueryDict):
            raise FhirError(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                "not-supported",
                "POST _search takes an application/x-www-form-urlencoded body.",
            )
        params = _listed(request.data)
        for name, values in _listed(request.query_params).items():
            params.setdefault(name, []).extend(values)
        return self.search(resource_type, params, via_post=True)


class InstanceView(FhirView):
    def get(self, request: Request, resource_type: str, ident: str) -> Response:
        kind = self.kind(resource_type)
        resource, shown = kind.read(ident, self.identified())
        self.audit("read", shown)
        return Response(resource)


class UnknownView(FhirView):
    """Anything else under /fhir/R4/: a FHIR 404, not Django's HTML page."""

    def get(self, request: Request, rest: str = "") -> Response:
        raise not_found(f"Nothing is served at /fhir/R4/{rest}.")

    post = put = patch = delete = get


def capability_statement(base: str) -> dict[str, Any]:
    """Exactly what this server answers, built from the registry the views use."""
    resources = []
    for kind in TYPES.values():
        interactions = [{"code": "read"}, {"code": "search-type"}]
        if kind.create:
            interactions.append({"code": "create"})
        entry: dict[str, Any] = {
            "type": kind.name,
            "interaction": interactions,
            "searchParam": [{"name": name, "type": kind_of} for name, kind_of in kind.params.items()],
            "documentation": kind.documentation,
        }
        if kind.create:
            entry["conditionalCreate"] = False
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-02",
        "publisher": "Theatre scheduling",
        "kind": "instance",
        "software": {"name": "Theatre scheduling FHIR facade"},
        "implementation": {"description": "Theatre lists, waiting list and referral intake", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Authentication: `Authorization: Token <token>` (or a browser session). Unknown search "
                    "parameters are ignored unless `Prefer: handling=strict`. Paging: _count (max 200) and next links."
                ),
                "security": {"description": "Token or session authentication; the API's roles apply."},
                "resource": resources,
            }
        ],
    }
