"""The REST API, derived from the declared operations: one view per path, one method per
operation, each documented in the OpenAPI schema from its declaration."""

from __future__ import annotations

import re

from django.urls import re_path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from orchestrator.api import ErrorBody
from orchestrator.operations import Operation, Result, all_operations
from orchestrator.permissions import Caller


def render(request, result: Result) -> Response:
    headers = {}
    if result.total is not None:
        headers["X-Total-Count"] = str(result.total)
        if (after := result.next_offset) is not None:
            url = request.build_absolute_uri(replace_query_param(request.get_full_path(), "offset", after))
            headers["Link"] = f'<{url}>; rel="next"'
    if result.error is not None:
        return Response(ErrorBody(error_message=result.error, data=result.data), status=result.status, headers=headers)
    return Response(result.data, status=result.status, headers=headers)


def _method(op: Operation):
    def handle(self, request, **path):
        inputs = op.inputs(path, query=request.query_params, body=request.data if op.body else None)
        return render(request, op(Caller.of_request(request), inputs))

    handle.__name__ = op.name
    handle.__doc__ = op.description
    parameters = [OpenApiParameter(p.name, p.kind, OpenApiParameter.PATH, description=p.description)
                  for p in op.params]
    if op.query is not None:
        parameters.insert(0, op.query)
    options = {"auth": []} if op.public else {}
    return extend_schema(operation_id=op.name, summary=op.summary, description=op.description,
                         request=op.body, parameters=parameters, responses=op.responses, **options)(handle)


def _route(path: str, ops: list[Operation]) -> str:
    params = {p.name: p.pattern for op in ops for p in op.params}
    pattern = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>{params[m.group(1)]})", path.lstrip("/"))
    return f"^{pattern}$"


def operation_urls() -> list:
    """A URL per path; paths without parameters first, so `/teams/list` is not a team's name."""
    by_path: dict[str, list[Operation]] = {}
    for op in all_operations().values():
        by_path.setdefault(op.path, []).append(op)
    urls = []
    for path in sorted(by_path, key=lambda p: ("{" in p, p)):
        ops = by_path[path]
        attrs = {op.method.lower(): _method(op) for op in ops}
        if all(op.public for op in ops):
            attrs.update(authentication_classes=[], permission_classes=[AllowAny])
        view = type(f"{ops[0].name.title().replace('_', '')}View", (APIView,), attrs)
        urls.append(re_path(_route(path, ops), view.as_view(), name=ops[0].name))
    return urls
