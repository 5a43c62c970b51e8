"""Make the OpenAPI schema say what the server does: every body is wrapped in the envelope,
and every operation can answer with an error envelope."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

BAD_INPUT = "Invalid input; `error_message` names the field."
UNAUTHENTICATED = "Missing, invalid or revoked bearer token."
# What any call with a token can meet, whatever it does.
ANY_CALL = {
    "403": "The token may not do this (an agent's token acts within its own team and tasks).",
    "404": "No agent, team, task or message by that name or id.",
    "429": "Too many requests with this token, or too many waiting at once; `Retry-After` says when to try again.",
}
TOO_BIG = "The request body is over the size limit; nothing was done."
UNAVAILABLE = "The database is busy or unreachable (or, for health, the service is unhealthy)."


def _envelope(data_schema: dict | None) -> dict:
    return {
        "type": "object",
        "required": ["success", "data", "error_message", "timestamp"],
        "properties": {
            "success": {"type": "boolean"},
            "data": data_schema or {"nullable": True},
            "error_message": {"type": "string", "nullable": True},
            "timestamp": {"type": "string", "format": "date-time"},
        },
    }


def _forbid_unknown_fields(operation: dict, components: dict) -> None:
    """Request bodies refuse fields they do not declare (StrictSerializer)."""
    for content in operation.get("requestBody", {}).get("content", {}).values():
        ref = content.get("schema", {}).get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        if name in components:
            components[name]["additionalProperties"] = False


def wrap_in_envelope(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorEnvelope"] = {
        **_envelope(None),
        "example": {
            "success": False,
            "data": None,
            "error_message": "target: 'nocolon' is not 'session:window'",
            "timestamp": "2026-01-08T15:30:00Z",
        },
    }
    error_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    response["content"] = error_ref["content"]
                elif "application/json" in response.get("content", {}):
                    content = response["content"]["application/json"]
                    content["schema"] = _envelope(content.get("schema"))
            _forbid_unknown_fields(operation, components)
            if operation.get("requestBody") or operation.get("parameters"):
                responses.setdefault("400", {"description": BAD_INPUT, **error_ref})
            if operation.get("security"):
                responses.setdefault("401", {"description": UNAUTHENTICATED, **error_ref})
                for code, description in ANY_CALL.items():
                    responses.setdefault(code, {"description": description, **error_ref})
            if operation.get("requestBody"):
                responses.setdefault("413", {"description": TOO_BIG, **error_ref})
            responses.setdefault("503", {"description": UNAVAILABLE, **error_ref})
    return result


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "orchestrator.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A token from `tmux-orc token create NAME`."}


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "orchestrator.auth.StaffSessionAuthentication"
    name = "staffSession"

    def get_security_definition(self, auto_schema):
        from django.conf import settings

        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME,
                "description": "The session of a staff member logged in to the dashboard or the admin "
                               "(what a browser's EventSource sends)."}


# --- the same input, as JSON Schema, for MCP ---------------------------------------------

REF = "#/components/schemas/"


def _json_schema(node, components: dict):
    """OpenAPI 3.0 to JSON Schema: `nullable` becomes a null type, and references are
    written out in place (request bodies here nest no deeper than a team's members)."""
    if isinstance(node, list):
        return [_json_schema(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("$ref", "").startswith(REF):
        return _json_schema(components[node["$ref"][len(REF):]], components)
    out = {key: _json_schema(value, components) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]} if "type" not in out else {**out, "type": [out["type"], "null"]}
    return out


def operation_input(operation: dict, components: dict) -> dict:
    """One object with the operation's path and query parameters and its body's fields."""
    properties, required = {}, []
    for parameter in operation.get("parameters", []):
        prop = dict(parameter.get("schema", {}))
        if parameter.get("description"):
            prop["description"] = parameter["description"]
        properties[parameter["name"]] = _json_schema(prop, components)
        if parameter.get("required"):
            required.append(parameter["name"])
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body and body.get("$ref", "").startswith(REF):
        component = components[body["$ref"][len(REF):]]
        properties.update(_json_schema(component.get("properties", {}), components))
        required += [name for name in component.get("required", []) if name not in required]
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def input_schemas() -> dict[str, dict]:
    """Each operation id's input schema, from the OpenAPI schema the server serves."""
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator().get_schema(request=None, public=True)
    components = document.get("components", {}).get("schemas", {})
    return {operation["operationId"]: operation_input(operation, components)
            for methods in document["paths"].values() for operation in methods.values()}
