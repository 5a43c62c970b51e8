"""Each operation of the service, declared once.

An operation is a name (the OpenAPI operation id, which is also its MCP tool's name and
what the CLI calls), where it lives in the REST API, its input (a path, a query and a body
serializer, whose fields carry the defaults), its documented responses, and one function
that checks the caller's permission, calls one service or selector and renders the result.
The REST views (`orchestrator.rest`), the MCP tools (`orchestrator.mcp_server`) and the
CLI (`orchestrator.client`) are derived from these declarations, so they cannot drift.

Apps declare theirs in `<app>/operations.py` with `@operation(...)`.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps

from orchestrator.serializers import validated


@dataclass(frozen=True)
class PathParam:
    name: str
    kind: type  # int or str
    pattern: str  # what the URL accepts
    description: str = ""

    def value(self, given):
        """The parameter as its kind; REST's URL has matched `pattern`, MCP's input may not."""
        from rest_framework.exceptions import ValidationError

        if given is None or isinstance(given, bool) or not re.fullmatch(self.pattern, str(given)):
            what = "a whole number" if self.kind is int else f"a name matching {self.pattern}"
            raise ValidationError({self.name: [f"required: {what}"]})
        return self.kind(given)


@dataclass
class Result:
    """What an operation gives: the data, the status code it means, and for an operation
    that was tried and failed, the error (the data then says how far it got)."""

    data: Any
    status: int = 200
    error: str | None = None
    total: int | None = None  # a page of a list: the count of all
    limit: int = 0
    offset: int = 0

    @property
    def next_offset(self) -> int | None:
        if self.total is None or self.offset + self.limit >= self.total:
            return None
        return self.offset + self.limit


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str  # "/messages/{id}/cancel"
    run: Callable[..., Any]  # (caller, inputs) -> Result or plain data
    summary: str
    description: str
    body: type | None = None
    query: type | None = None
    params: tuple[PathParam, ...] = ()
    responses: dict = field(default_factory=dict)
    ok: int = 200
    public: bool = False  # no token needed (health checks)

    def inputs(self, arguments: Mapping[str, Any], *, query: Mapping | None = None,
               body: Any = None) -> dict[str, Any]:
        """The validated input. `arguments` has the path parameters (and, from MCP, everything:
        it is split by the serializers' fields); REST passes its query string and body apart."""
        rest = {k: v for k, v in arguments.items() if k not in self.param_names}
        if query is None and body is None:
            query_fields = set(self.query().fields) if self.query else set()
            query = {k: v for k, v in rest.items() if k in query_fields}
            body = {k: v for k, v in rest.items() if k not in query_fields}
        values: dict[str, Any] = {p.name: p.value(arguments.get(p.name)) for p in self.params}
        if self.query is not None:
            values.update(validated(self.query, query))
        elif query:
            raise_unknown(query, "query parameter")
        if self.body is not None:
            values.update(validated(self.body, body if body is not None else {}))
        elif body:
            raise_unknown(body, "field")
        return values

    @property
    def param_names(self) -> set[str]:
        return {p.name for p in self.params}

    def __call__(self, caller, inputs: dict) -> Result:
        result = self.run(caller, inputs)
        return result if isinstance(result, Result) else Result(result, self.ok)


def raise_unknown(given: Mapping, what: str) -> None:
    from rest_framework.exceptions import ValidationError

    if isinstance(given, Mapping) and given:
        raise ValidationError({name: [f"unknown {what}"] for name in sorted(given)})
    if given and not isinstance(given, Mapping):
        raise ValidationError({"body": ["this operation takes no body"]})


REGISTRY: dict[str, Operation] = {}
_loaded = threading.Lock()


def operation(name: str, method: str, path: str, *, summary: str, body=None, query=None,
              params: tuple[PathParam, ...] = (), responses: dict | None = None, ok: int = 200,
              public: bool = False):
    """Declare `fn(caller, inputs)` as the operation `name`; its docstring is the description."""

    def register(fn):
        if name in REGISTRY and REGISTRY[name].run.__module__ != fn.__module__:
            raise ValueError(f"operation {name} is declared twice")
        REGISTRY[name] = Operation(name=name, method=method, path=path, run=fn, summary=summary,
                                   description=inspect.getdoc(fn) or summary, body=body, query=query,
                                   params=params, responses=responses or {}, ok=ok, public=public)
        return fn

    return register


def all_operations() -> dict[str, Operation]:
    """Every operation of the installed apps, in the order they are declared."""
    with _loaded:
        for app in apps.get_app_configs():
            if importlib.util.find_spec(f"{app.name}.operations") is not None:
                importlib.import_module(f"{app.name}.operations")
    return REGISTRY


def get_operation(name: str) -> Operation:
    return all_operations()[name]


def page(rows, inputs: dict, serializer_class=None, **context) -> Result:
    """One page of `rows` (the inputs' `limit` and `offset`), with the count of all."""
    limit, offset = inputs["limit"], inputs["offset"]
    total = rows.count() if hasattr(rows, "count") and not isinstance(rows, list) else len(rows)
    chunk = rows[offset:offset + limit]
    data = serializer_class(chunk, many=True, context=context).data if serializer_class else list(chunk)
    return Result(data, total=total, limit=limit, offset=offset)
