"""The OpenAPI 3.1 document, built from the operations' declarations, and its reading page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, json, render_template
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from portal.api import PREFIX, bp, core, docs_bp
from portal.api.core import OPERATIONS, Operation
from portal.mail.compose import external_url
from portal.models.site import site_name
from portal.services import api_keys

_SCOPE_TEXT = api_keys.SCOPE_DESCRIPTIONS


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"Problem": core.Problem}
    for op in OPERATIONS:
        for model in (op.body, op.response):
            if model is not None:
                found[model.__name__] = model
    return list(found.values())


def _bodies() -> list[type[BaseModel]]:
    return list({op.body.__name__: op.body for op in OPERATIONS if op.body}.values())


def _answers() -> list[type[BaseModel]]:
    """Every model an answer holds, its parts included, in the order first met."""
    found: dict[str, type[BaseModel]] = {}

    def visit(model: type[BaseModel]) -> None:
        if model.__name__ in found:
            return
        found[model.__name__] = model
        for info in model.model_fields.values():
            for part in _models_in(info.annotation):
                visit(part)

    for op in OPERATIONS:
        if op.response is not None:
            visit(op.response)
    visit(core.Problem)
    return list(found.values())


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {core.PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


_ERROR_TEXT = {
    400: "A query parameter or the body's JSON is not valid.",
    401: "No API key, or one that is not valid (unknown, revoked, expired, suspended).",
    403: "The key lacks the scope, or its person may not do this.",
    404: "No such thing, or the key may not see it.",
    409: "Refused by a rule of the site (voting closed, a move the pipeline does not allow…).",
    412: "If-Match named an ETag that is no longer current.",
    415: "The body is not JSON.",
    422: "Some fields are not valid; `errors` says which and why.",
    429: "Too many requests (of these, or of all API requests) in a short while; "
    "Retry-After says how long to wait.",
}


def _operation(op: Operation) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Done."}
    if op.response is not None:
        success["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{op.response.__name__}"}}
        }
        if op.etag:
            success["headers"] = {
                "ETag": {"schema": {"type": "string"}, "description": "Of this representation."}
            }
    responses: dict[str, Any] = {str(op.status): success}
    if op.method == "get" and op.etag:
        responses["304"] = {"description": "Not modified since the ETag in If-None-Match."}
    # A malformed request is refused anywhere, and every request draws on LIMIT_API.
    statuses = set(op.errors) | {400, 429}
    if op.body is not None:
        statuses |= {415, 422}
    if op.scope is not None or op.body is not None:
        statuses |= {401, 403}
    else:
        statuses |= {401}  # a key that is not valid is refused, even where none is needed
    for status in sorted(statuses):
        responses[str(status)] = _problem(_ERROR_TEXT.get(status, "Refused."))
    spec: dict[str, Any] = {
        "operationId": op.endpoint.removeprefix("api."),
        "summary": op.summary,
        "description": op.description
        + (f"\n\nNeeds a key with the `{op.scope}` scope." if op.scope else ""),
        "tags": [op.tag],
        "responses": responses,
    }
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1, "examples": [1]},
        }
        for name in core._PATH_PARAM.findall(op.path)
    ]
    if op.query is not None:
        params += _query_parameters(op.query)
    if params:
        spec["parameters"] = params
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}
            },
        }
    spec["security"] = [{"bearer": [op.scope]}] if op.scope else [{}, {"bearer": []}]
    return spec


def openapi_document() -> dict[str, Any]:
    _, definitions = models_json_schema(
        [(model, "serialization") for model in _models()]
        + [(model, "validation") for model in _models()],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{site_name()} API",
            "version": "1",
            "description": (
                "The idea portal's JSON API. Authenticate with an API key from your account "
                "page, sent as `Authorization: Bearer <key>`; reads of public content need "
                "none. Lists are paged with `cursor` (pass back `next_cursor`). Answers carry "
                "an ETag; errors are RFC 9457 problem documents. Every rule of the site holds."
            ),
        },
        "servers": [{"url": external_url("api.openapi").removesuffix("/openapi.json")}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Scopes: "
                    + "; ".join(f"`{s}`: {t}" for s, t in _SCOPE_TEXT.items()),
                }
            },
        },
    }


def _type_of(prop: dict[str, Any]) -> str:
    """A property's type in words, for the reference page: "string", "list of Idea"…"""
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        kinds = [_type_of(option) for option in prop["anyOf"]]
        return " or ".join(kind for kind in kinds if kind != "null") + (
            " or null" if "null" in kinds else ""
        )
    if "enum" in prop:
        return "one of " + ", ".join(f"“{v}”" for v in prop["enum"])
    if "const" in prop:
        return f"“{prop['const']}”"
    if prop.get("type") == "array":
        return "list of " + _type_of(prop.get("items", {}))
    if prop.get("type") == "object" and "additionalProperties" in prop:
        return "map to " + _type_of(prop["additionalProperties"])
    kind = str(prop.get("type", "any"))
    return f"{kind} ({prop['format']})" if "format" in prop else kind


@dataclass
class Field:
    name: str
    type: str
    required: bool
    description: str


def fields_of(model: type[BaseModel], mode: str = "serialization") -> list[Field]:
    schema = model.model_json_schema(mode=mode)  # type: ignore[arg-type]
    required = set(schema.get("required", []))
    return [
        Field(name, _type_of(prop), name in required, prop.get("description", ""))
        for name, prop in schema.get("properties", {}).items()
    ]


@bp.route("/openapi.json")
def openapi() -> Response:
    body = json.dumps(openapi_document(), indent=1, sort_keys=False)
    response = Response(body, mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@docs_bp.route("/api")
def docs() -> str:
    """The API's reference, readable in a browser (no script: rendered here)."""
    return render_template(
        "api/reference.html",
        document=openapi_document(),
        operations=OPERATIONS,
        prefix=PREFIX,
        scopes=_SCOPE_TEXT.items(),
        problem_kinds=core.PROBLEM_KINDS,
        bodies={m.__name__: fields_of(m, "validation") for m in _bodies()},
        objects={m.__name__: fields_of(m) for m in _answers()},
    )
