"""Keyset ("cursor") pagination with validated parameters.

The order is the queryset's `order_by` (set by the view or its FilterSet's `ordering`), whose
last term is the primary key, so every row has one place. The cursor is opaque: the last row's
sort values, signed with `django.core.signing` and bound to the order; a tampered, foreign or
mismatched cursor is a 400, and so is a `page_size` that is not a whole number from 1 to 500.
Nothing is counted, so a page costs the same however deep it is."""

from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import urlencode

from django.core import signing
from django.db.models import Q
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

MAX_PAGE_SIZE = 500
_POSITIVE = re.compile(r"^[1-9][0-9]{0,5}$")


def page_size_from(request, *, default: int, maximum: int = MAX_PAGE_SIZE, name: str = "page_size") -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not _POSITIVE.match(raw) or int(raw) > maximum:
        raise ValidationError({name: [f"A whole number from 1 to {maximum}."]})
    return int(raw)


def encode_position(values: list, *, salt: str, extra: dict | None = None) -> str:
    payload = {"v": [v.isoformat() if isinstance(v, datetime | date) else v for v in values], **(extra or {})}
    return signing.dumps(payload, salt=salt, compress=True)


def decode_position(raw: str, *, salt: str, name: str = "cursor") -> dict:
    try:
        payload = signing.loads(raw, salt=salt)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise ValidationError({name: ["This cursor is not valid. Start again without it."]}) from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("v"), list):
        raise ValidationError({name: ["This cursor is not valid. Start again without it."]})
    return payload


def keyset_after(ordering: list[str], values: list) -> Q:
    """Rows strictly after `values` in `ordering` (lexicographic, each term asc or desc).

    The first term's bound is stated on its own too (`>=` or `<=`): the OR of the terms is no
    index condition, so without it PostgreSQL reads the list's index from its start and filters,
    and a page costs more the deeper it is."""
    condition = Q(pk__in=[])
    equal = Q()
    for term, value in zip(ordering, values, strict=True):
        field = term.lstrip("-")
        step = Q(**{f"{field}__lt" if term.startswith("-") else f"{field}__gt": value})
        condition |= equal & step
        equal &= Q(**{field: value})
    first, value = ordering[0], values[0]
    return Q(**{f"{first.lstrip('-')}__lte" if first.startswith("-") else f"{first}__gte": value}) & condition


def rows_release(rows) -> None:
    """Drop the related and prefetched objects cached on model instances whose page has been
    serialized. Those objects point back at the instance (both sides of a one-to-one, a prefetched
    clock's case), so a page left as it is becomes about 4,600 objects in reference cycles that
    only Python's cyclic collector frees; its full passes over them took most of a list's p95.
    Dropped, the page is freed by reference counting as the request ends."""
    for row in rows:
        state = getattr(row, "_state", None)
        if state is not None:
            state.__dict__.pop("fields_cache", None)
        row.__dict__.pop("_prefetched_objects_cache", None)


class KeysetPagination(BasePagination):
    default_page_size = 50
    max_page_size = MAX_PAGE_SIZE
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    salt = "accord.api.cursor"

    def _ordering(self, queryset) -> list[str]:
        ordering = [str(term) for term in (queryset.query.order_by or queryset.model._meta.ordering)]
        if not ordering or ordering[-1].lstrip("-") not in ("id", "pk"):
            raise AssertionError("Keyset pagination needs an order ending with the primary key.")
        return ordering

    def _parse(self, queryset, ordering: list[str], values: list) -> list:
        parsed = []
        for term, value in zip(ordering, values, strict=True):
            field = queryset.model._meta.get_field(term.lstrip("-"))
            kind = field.get_internal_type()
            if kind in ("DateTimeField", "DateField"):
                parse = parse_datetime if kind == "DateTimeField" else parse_date
                try:
                    value = parse(value) if isinstance(value, str) else None
                except ValueError:
                    value = None
                if value is None:
                    raise ValidationError({self.cursor_query_param: ["This cursor is not valid."]})
            elif not isinstance(value, int | str):
                raise ValidationError({self.cursor_query_param: ["This cursor is not valid."]})
            parsed.append(value)
        return parsed

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = page_size_from(request, default=self.default_page_size, maximum=self.max_page_size)
        ordering = self._ordering(queryset)
        raw = request.query_params.get(self.cursor_query_param)
        if raw is not None:
            payload = decode_position(raw, salt=self.salt)
            if payload.get("o") != ordering or len(payload["v"]) != len(ordering):
                raise ValidationError(
                    {self.cursor_query_param: ["This cursor belongs to another ordering or list."]}
                )
            queryset = queryset.filter(keyset_after(ordering, self._parse(queryset, ordering, payload["v"])))
        rows = self.rows = list(queryset[: page_size + 1])
        self.next_cursor = None
        if len(rows) > page_size:
            rows_release(rows[page_size:])
            del rows[page_size:]
            last = rows[-1]
            self.next_cursor = encode_position(
                [getattr(last, term.lstrip("-")) for term in ordering], salt=self.salt, extra={"o": ordering}
            )
        return rows

    def get_next_link(self) -> str | None:
        if self.next_cursor is None:
            return None
        params = self.request.query_params.copy()
        params[self.cursor_query_param] = self.next_cursor
        return self.request.build_absolute_uri(self.request.path) + "?" + urlencode(params, doseq=True)

    def get_paginated_response(self, data):
        # The page is serialized (`data`): its instances are not read again. The list is emptied
        # too: DRF's serializer and its data refer to each other, and the serializer to the page.
        rows_release(self.rows)
        self.rows.clear()
        return Response({"next": self.get_next_link(), "next_cursor": self.next_cursor, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "next_cursor", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The next page's URL; null on the last page.",
                },
                "next_cursor": {"type": "string", "nullable": True},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque cursor from the previous page's `next_cursor`.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page (default {self.default_page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
