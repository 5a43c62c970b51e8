"""Make the OpenAPI schema say what the server does: every body is wrapped in the envelope,
and every operation can answer with an error envelope."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_RESPONSES = {
    "400": "Invalid input; `error_message` names the field.",
    "401": "Missing, invalid or revoked bearer token.",
    "404": "No such agent or endpoint.",
}


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


def wrap_in_envelope(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorEnvelope"] = {
        **_envelope(None),
        "example": {
            "success": False,
            "data": None,
            "error_message": "project_path: /nope does not exist",
            "timestamp": "2026-01-08T15:30:00Z",
        },
    }
    error_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                content = response.get("content", {}).get("application/json")
                if content is not None and not code.startswith(("4", "5")):
                    content["schema"] = _envelope(content.get("schema"))
                elif content is not None:
                    content["schema"] = {"$ref": "#/components/schemas/ErrorEnvelope"}
            for code, description in ERROR_RESPONSES.items():
                if code == "401" and not operation.get("security", True):
                    continue
                responses.setdefault(code, {"description": description, **error_ref})
    return result


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "orchestrator.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A token from `tmux-orc token create NAME`."}
