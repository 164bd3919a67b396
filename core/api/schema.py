"""The OpenAPI schema tells the truth about errors, roles and limits (issue 15).

`AutoSchema` (the project's DEFAULT_SCHEMA_CLASS) adds to what drf-spectacular infers:

- **Every error status an operation can answer**, each with the `{code, detail, errors?}` body
  (components `Error400`, `Error401`, …, each listing every code of its status) and `code`
  narrowed to what this operation can answer (`allOf` the component and an enum). The codes
  every operation shares come from the rules in `AutoSchema.error_codes`: 401/403 behind a login,
  404 for all (an unknown id, or a page past the end), 400 where a body or query parameters are
  read (`parse_error` for a body, `out_of_range` where dates are read), 413/415 with a body, 409
  `busy` for writes (a lock not had in time), 429 where a throttle applies. The rest each view
  declares (core/api/error_codes.py); tests/api/error_ledger.py checks the suite's answers
  against the result.
- **Role-dependent fields are not required**: a viewer's answer leaves out patient identifiers
  (`identifier_fields` of scheduling's output serializers, and `role_dependent_fields`), so the
  schema lists them as optional properties, the same for every caller.
- **The strict input rule** (core/api/strict.py): request bodies have `additionalProperties: false`;
  a list that refuses `[]` has `minItems: 1`; a text field that may be blank drops `format`
  (`""` is not an email address, yet a blank email is accepted, and a patient without one
  answers `""`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance
from rest_framework import fields, serializers
from rest_framework.permissions import AllowAny
from rest_framework.throttling import ScopedRateThrottle

from core.api.error_codes import declared_codes
from core.errors import ErrorCode

# Codes DRF itself gives, by status (rest_framework.exceptions), beside the project's ErrorCode.
_DRF_400 = ("invalid", "parse_error")
# Codes with a status of their own, never a 400 or a 409.
_OWN_STATUS = {
    ErrorCode.TOO_LARGE,
    ErrorCode.NOT_FOUND,
    ErrorCode.SERVER_ERROR,
    ErrorCode.INVALID_CREDENTIALS,
    ErrorCode.LOCKED_OUT,
}
DOMAIN_CODES = sorted(code.value for code in ErrorCode if code not in _OWN_STATUS)

ERROR_CODES: dict[int, list[str]] = {
    # A 400 names the refused fields under `errors`; a service's InvalidInput carries its own code.
    400: sorted({*_DRF_400, *DOMAIN_CODES}),
    # invalid_credentials: a refused login (core/api/auth.py).
    401: ["authentication_failed", ErrorCode.INVALID_CREDENTIALS.value, "not_authenticated"],
    403: ["permission_denied"],
    404: [ErrorCode.NOT_FOUND.value],
    405: ["method_not_allowed"],
    406: ["not_acceptable"],
    409: DOMAIN_CODES,
    413: [ErrorCode.TOO_LARGE.value],
    415: ["unsupported_media_type"],
    # locked_out: a login during a lockout (django-axes).
    429: [ErrorCode.LOCKED_OUT.value, "throttled"],
}

DESCRIPTIONS = {
    400: "The request is invalid: `errors` names each refused field. Nothing was changed.",
    401: "No valid credentials (`WWW-Authenticate: Token`).",
    403: "Logged in, but this role may not do this.",
    404: "No such object (or page).",
    405: "Method not allowed.",
    406: "The Accept header asks for a format this endpoint does not give.",
    409: "A business rule refused the change (`code` says which); nothing was changed.",
    413: "The request body is over API_MAX_BODY_BYTES.",
    415: "The body is not JSON.",
    429: "Too many requests: try again after `Retry-After` seconds.",
}

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
WRITE_METHODS = BODY_METHODS | {"DELETE"}
DATE_FORMATS = frozenset({"date", "date-time"})


def _has_date_field(serializer: Any) -> bool:
    if isinstance(serializer, serializers.ListSerializer):
        return _has_date_field(serializer.child)
    if not isinstance(serializer, serializers.Serializer):
        return False
    for field in serializer.fields.values():
        if isinstance(field, fields.DateField | fields.DateTimeField) and not field.read_only:
            return True
        if isinstance(field, serializers.BaseSerializer) and _has_date_field(field):
            return True
    return False


def _throttled(view: Any) -> bool:
    """True if a throttle can refuse this view: ScopedRateThrottle (the default) only where the
    view names a `throttle_scope`; any other throttle class always."""
    classes = getattr(view, "throttle_classes", ())
    others = [c for c in classes if not issubclass(c, ScopedRateThrottle)]
    return bool(others) or (bool(getattr(view, "throttle_scope", None)) and bool(classes))


def error_schema(status: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "code": {"type": "string", "enum": ERROR_CODES[status]},
            "detail": {"type": "string"},
            "errors": {
                "type": "object",
                "additionalProperties": True,
                "description": "Field name → messages (400 only).",
            },
        },
        "required": ["code", "detail"],
        # A domain error carries the objects it is about (e.g. `case`, `session`).
        "additionalProperties": True,
    }


class TokenScheme(KnoxTokenScheme):  # type: ignore[no-untyped-call]  # registers itself on definition
    """Our knox subclass (core/api/token_auth.py) documented as knox's own: drf-spectacular's
    extension for knox does not match subclasses."""

    target_class = "core.api.token_auth.TokenAuthentication"


class AutoSchema(SpectacularAutoSchema):
    def _reads_dates(self) -> bool:
        """A date or time in the query or the body: date arithmetic on year 9999 overflows, which
        core/api/exceptions.py answers as 400 `out_of_range`."""
        if any(p.get("schema", {}).get("format") in DATE_FORMATS for p in self._get_parameters()):
            return True
        if self.method.upper() not in BODY_METHODS:
            return False
        return _has_date_field(force_instance(self.get_request_serializer()))  # type: ignore[no-untyped-call]

    def error_codes(self) -> dict[int, set[str]]:
        """Status → every `code` this operation can answer with: the codes every operation shares,
        by the rules below, and the codes its view declares (core/api/error_codes.py)."""
        method = self.method.upper()
        codes: dict[int, set[str]] = {404: {ErrorCode.NOT_FOUND.value}}
        permissions = getattr(self.view, "permission_classes", [])
        if not all(permission is AllowAny for permission in permissions):
            codes[401] = {"not_authenticated", "authentication_failed"}
            # DRF's PermissionDenied, and a CSRF failure with a browser session.
            codes[403] = {"permission_denied"}
        has_query = any(p.get("in") == "query" for p in self._get_parameters())
        reads_body = method in BODY_METHODS
        if reads_body or has_query:
            # bad_request: an unreadable request (core/api/http.py), e.g. a Content-Length that is no number.
            codes[400] = {ErrorCode.INVALID.value, ErrorCode.BAD_REQUEST.value}
        if reads_body:
            codes[400].add("parse_error")
            codes[415] = {"unsupported_media_type"}
        if method in WRITE_METHODS:
            # core/api/http.py's ApiBodyLimitMiddleware judges every write's Content-Length before
            # the view runs, whether or not the view reads a body (a DELETE may carry one).
            codes[413] = {ErrorCode.TOO_LARGE.value}
            codes.setdefault(400, set()).add(ErrorCode.BAD_REQUEST.value)
        if self._reads_dates():
            codes.setdefault(400, set()).add(ErrorCode.OUT_OF_RANGE.value)
        if method != "GET":
            # Any write whose row lock is not had in time (core/api/exceptions.py).
            codes[409] = {ErrorCode.BUSY.value}
        if _throttled(self.view):
            codes[429] = {"throttled"}
        for status, declared in declared_codes(self.view, method).items():
            codes.setdefault(status, set()).update(declared)
        return codes

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for status, codes in sorted(self.error_codes().items()):
            name = f"Error{status}"
            component = ResolvedComponent(  # type: ignore[no-untyped-call]
                name=name, type=ResolvedComponent.SCHEMA, object=name, schema=error_schema(status)
            )
            self.registry.register_on_missing(component)
            # The status's body, with `code` narrowed to what this operation answers.
            narrowed = {"type": "object", "properties": {"code": {"type": "string", "enum": sorted(codes)}}}
            response: dict[str, Any] = {
                "description": DESCRIPTIONS[status],
                "content": {"application/json": {"schema": {"allOf": [component.ref, narrowed]}}},
            }
            if status == 429:
                response["headers"] = {
                    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
                }
            if status == 401:
                response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
            responses.setdefault(str(status), response)
        return responses

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        context = getattr(serializer, "context", None)
        if isinstance(context, dict):
            # Describe every field any role may see, whoever asks for the schema.
            context["identified"] = True
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)  # type: ignore[no-untyped-call]
        optional = {*getattr(serializer, "identifier_fields", ()), *getattr(serializer, "role_dependent_fields", ())}
        if optional and "required" in schema:
            schema["required"] = [name for name in schema["required"] if name not in optional]
            if not schema["required"]:
                del schema["required"]
        if direction == "request":
            schema["additionalProperties"] = False
        return schema

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)  # type: ignore[no-untyped-call]
        # The email and URL validators add their `format` back; "" meets neither.
        if _may_be_blank(field) and "format" in schema:
            schema.pop("format")

    def _map_serializer_field(
        self, field: Any, direction: Any, bypass_extensions: bool = False
    ) -> dict[str, Any] | None:
        schema: dict[str, Any] | None = super()._map_serializer_field(field, direction, bypass_extensions)  # type: ignore[no-untyped-call]
        if schema is None:
            return None
        if _may_be_blank(field) and "format" in schema:
            schema.pop("format")
        if isinstance(field, fields.TimeField) and schema.get("format") == "time":
            # JSON Schema's "time" is RFC 3339's, with an offset; these are local wall-clock times.
            schema.pop("format")
            schema["pattern"] = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$"
        if isinstance(field, fields.ListField) and not field.allow_empty and schema.get("type") == "array":
            schema.setdefault("minItems", 1)
        if isinstance(field, serializers.ListSerializer) and schema.get("type") == "array":
            # DRF 3.14+ takes max_length/min_length on a many=True serializer; the stubs lag behind.
            max_items = getattr(field, "max_length", None)
            if max_items is not None:
                schema.setdefault("maxItems", max_items)
            if not field.allow_empty:
                schema.setdefault("minItems", max(getattr(field, "min_length", None) or 0, 1))
        if isinstance(field, serializers.ManyRelatedField) and not field.allow_empty:
            schema.setdefault("minItems", 1)
        return schema


def _may_be_blank(field: fields.Field[Any, Any, Any, Any]) -> bool:
    """Text that may be "": a field that allows blank, or a read-only field of a model serializer
    over a column that may be blank (DRF builds that one without allow_blank, yet it answers the
    blank column as "": a patient with no email)."""
    if not isinstance(field, fields.CharField):
        return False
    if field.allow_blank:
        return True
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not field.read_only:
        return False
    try:
        return bool(model._meta.get_field(field.source).blank)
    except FieldDoesNotExist:
        return False


# OpenAPI links: the operations a created object's `id` opens. They tell a client (and the fuzzer's
# stateful phase, tests/api/test_fuzz.py) that POST /cases/ answers with the id that
# /cases/{id}/book/ takes, so a generated scenario books, plans and cancels a case that exists
# instead of guessing ids that 404.
LINKS: dict[str, tuple[str, ...]] = {
    "cases_create": (
        "cases_retrieve",
        "cases_partial_update",
        "cases_book_create",
        "cases_cancel_create",
        "cases_plan_retrieve",
        "cases_unavailability_create",
    ),
    "sessions_create": (
        "sessions_retrieve",
        "sessions_partial_update",
        "sessions_cancel_create",
        "sessions_destroy",
        "sessions_candidates_retrieve",
    ),
    "patients_create": ("patients_retrieve", "patients_partial_update", "patients_destroy"),
    "theatres_create": ("theatres_retrieve", "theatres_partial_update", "theatres_destroy"),
    "staff_create": (
        "staff_retrieve",
        "staff_partial_update",
        "staff_calendar.ics_retrieve",
        "staff_calendar_feed_create",
        "staff_destroy",
    ),
    "timetables_create": ("timetables_retrieve", "timetables_generate_create", "timetables_destroy"),
}


def add_links(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: LINKS on each creating operation's 201."""
    operations = {
        operation["operationId"]: operation
        for item in result.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for source, targets in LINKS.items():
        created = operations.get(source, {}).get("responses", {}).get("201")
        if created is None:
            continue  # a schema filtered to other paths
        created["links"] = {
            target: {"operationId": target, "parameters": {"id": "$response.body#/id"}}
            for target in targets
            if target in operations
        }
    return result
