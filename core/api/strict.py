"""One input rule for the whole API, installed once in CoreConfig.ready().

DRF is lenient by default: it ignores fields it does not know or may not write, reads `"yes"`
and `1` as true, `"12"` as 12 and `12` as the text "12", and takes text of any length. A client
then believes a change was made (a PATCH of a case's `status` answered 200) or a limit held when
it did not. This module makes every serializer in the project strict, including ones written
later, without each having to remember a base class:

- **Unknown or read-only fields in a request body are refused** with 400, each named under
  `errors` ("Unknown field." / "This field is read-only."). Query strings are not bodies: they
  carry `format`, `page` and filter parameters, so a serializer fed `request.query_params` (a
  QueryDict) is not checked for unknown names.
- **JSON types are exact in a body**: a boolean is `true`/`false`, an integer or a primary key
  is a JSON number, text is a JSON string. In a query string, where everything is text, booleans
  read `true`/`false`/`1`/`0` and numbers their digits, as before.
- **Every text field has a maximum length** (`MAX_TEXT_LENGTH` unless it declares less), and every
  list field a maximum number of items (`MAX_LIST_ITEMS` unless it declares less), so the schema
  states them (maxLength, maxItems) and megabytes of notes are refused.

The request body itself is capped before parsing (core/api/http.py, 413 `too_large`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.http import QueryDict
from rest_framework import fields, relations, serializers

# Free text (notes, addresses, reasons) up to this many characters unless the field says less:
# about four pages of typing, far beyond any clinical note, far below a denial of service.
MAX_TEXT_LENGTH = 10_000
# List fields (levels, channels, steps, fill's theatres and surgeons) up to this many items.
MAX_LIST_ITEMS = 200

_installed = False


def _from_query_string(field: fields.Field[Any, Any, Any, Any]) -> bool:
    """True when the field's serializer was given a QueryDict: a query string (the API parses
    JSON bodies only), where every value is text."""
    root = field.root if field.parent is not None else None
    return isinstance(getattr(root, "initial_data", None), QueryDict)


def _refuse_empty_parameters(serializer: serializers.Serializer[Any], data: QueryDict) -> None:
    """`?date_to=` is not "no date": a parameter given empty is refused, not read as absent."""
    fields_ = serializer.fields
    empty = [
        name
        for name, value in data.items()
        if value == "" and name in fields_ and not getattr(fields_[name], "allow_blank", False)
    ]
    if empty:
        raise serializers.ValidationError({name: ["This parameter may not be empty."] for name in empty})


def _refuse_unexpected(serializer: serializers.Serializer[Any], data: object) -> None:
    if isinstance(data, QueryDict):
        _refuse_empty_parameters(serializer, data)
        return
    if not isinstance(data, Mapping):
        return
    writable = {field.field_name for field in serializer._writable_fields}
    unexpected = [name for name in data if name not in writable]
    if unexpected:
        known = serializer.fields
        raise serializers.ValidationError(
            {str(name): ["This field is read-only." if name in known else "Unknown field."] for name in unexpected}
        )


def _wrap(original: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    def strict(self: Any, data: Any) -> Any:
        check(self, data)
        return original(self, data)

    strict.__wrapped__ = original  # type: ignore[attr-defined]
    return strict


def _check_boolean(field: fields.BooleanField, data: object) -> None:
    if isinstance(data, bool):
        return
    if _from_query_string(field) and isinstance(data, str) and data.lower() in {"true", "false", "1", "0"}:
        return
    field.fail("invalid", input=data)


def _check_integer(field: fields.IntegerField, data: object) -> None:
    if isinstance(data, bool) or (isinstance(data, str) and not _from_query_string(field)):
        field.fail("invalid")


def _check_number(field: fields.FloatField, data: object) -> None:
    if isinstance(data, bool) or (isinstance(data, str) and not _from_query_string(field)):
        field.fail("invalid")


def _check_text(field: fields.CharField, data: object) -> None:
    if not isinstance(data, str):
        field.fail("invalid")


def _check_primary_key(field: relations.PrimaryKeyRelatedField[Any], data: object) -> None:
    if isinstance(data, bool) or (isinstance(data, str) and not _from_query_string(field)):
        field.fail("incorrect_type", data_type=type(data).__name__)


def _with_default(original: Callable[..., None], name: str, value: int) -> Callable[..., None]:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if not kwargs.get("read_only") and kwargs.get(name) is None:
            kwargs[name] = value
        original(self, *args, **kwargs)

    init.__wrapped__ = original  # type: ignore[attr-defined]
    return init


def install() -> None:
    """Make DRF's serializers and fields strict (idempotent)."""
    global _installed  # noqa: PLW0603 - patched once per process
    if _installed:
        return
    _installed = True
    patches: list[tuple[type, str, Callable[..., Any]]] = [
        (serializers.Serializer, "to_internal_value", _refuse_unexpected),
        (fields.BooleanField, "to_internal_value", _check_boolean),
        (fields.IntegerField, "to_internal_value", _check_integer),
        (fields.FloatField, "to_internal_value", _check_number),
        (fields.CharField, "to_internal_value", _check_text),
        (relations.PrimaryKeyRelatedField, "to_internal_value", _check_primary_key),
    ]
    for cls, attr, check in patches:
        setattr(cls, attr, _wrap(getattr(cls, attr), check))
    # Defaults given at construction, so the schema shows them: DRF copies declared fields per
    # serializer instance by calling __init__ again with the declared arguments.
    fields.CharField.__init__ = _with_default(fields.CharField.__init__, "max_length", MAX_TEXT_LENGTH)  # type: ignore[method-assign]
    fields.ListField.__init__ = _with_default(fields.ListField.__init__, "max_length", MAX_LIST_ITEMS)  # type: ignore[method-assign]
