"""Printing results from management commands: a table for people, JSON for scripts."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def to_json(data) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)


ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def cell(value) -> str:
    """A value for people: a time (as the API's JSON gives it, or a datetime) in local time
    to the second."""
    if isinstance(value, str) and ISO_TIME.match(value):
        value = parse_datetime(value) or value
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if timezone.is_aware(value) \
            else value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """Rows under a header, columns as wide as their widest cell."""
    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(r[i]) for r in cells]) for i, column in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def fields(data: dict) -> str:
    """One `key: value` line per field."""
    width = max((len(k) for k in data), default=0)
    return "\n".join(f"{k.ljust(width)}  {cell(v)}" for k, v in data.items())
