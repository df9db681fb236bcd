"""How every API operation is declared, authenticated, validated and answered.

`operation(...)` registers a view on the API blueprint together with what the OpenAPI document
says about it: its path and method, the scope a key needs, the query and body models it reads
(pydantic models, which both validate the request and describe it) and the model it answers
with. portal.api.reference builds the document from these declarations alone, so what is
served and what is described cannot drift apart.

Answers are JSON with a strong ETag (a GET naming it in If-None-Match gets 304), and every
error is an RFC 9457 problem document (application/problem+json).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.exceptions import HTTPException

from portal import limits
from portal.api import PREFIX, bp
from portal.database import writing
from portal.extensions import db
from portal.mail.compose import external_url
from portal.models import ApiKey, User
from portal.permissions import PermissionDenied
from portal.services import api_keys, audit
from portal.services.errors import DomainError, InvalidFields, InvalidInput

PROBLEM_TYPE = "application/problem+json"
# Scopes in the order they grow; "read" is implied by every other.
SCOPES = ("read", "write", "team", "admin")


class FieldProblem(BaseModel):
    """One thing wrong with the request: where (a body field or a query parameter) and why."""

    field: str = Field(description="The body field or query parameter, dotted for nested ones.")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document: what went wrong, in words a person can act on."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        default="about:blank",
        description="A URI naming the kind of problem; about:blank for plain HTTP.",
    )
    title: str = Field(description="The HTTP status in words, the same for every such problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(
        default=None, description="What went wrong this time, and what to do."
    )
    errors: list[FieldProblem] = Field(
        default_factory=list, description="Each field or parameter that was wrong."
    )


class ApiError(Exception):
    """Stop the operation and answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.kind = kind


# The kinds of problem, each a URI of its own (the reference page's section on it).
PROBLEM_KINDS = {
    "unauthenticated": "The operation needs an API key and none was sent, or not as a Bearer.",
    "invalid-key": "The key is unknown, revoked or expired, or its person is suspended.",
    "insufficient-scope": "The key lacks the scope the operation needs.",
    "forbidden": "The key's person may not do this (the site's own rule).",
    "invalid-parameters": "A query parameter is not valid; `errors` names it.",
    "invalid-cursor": "The cursor was not given by the API for this list and sort.",
    "not-json": "The body is not JSON, or not sent as application/json.",
    "invalid-fields": "Some body fields are not valid; `errors` names each with why.",
    "refused": "A rule of the site refuses it now: voting closed, a move not allowed…",
    "changed": "If-Match named a version that is no longer current.",
    "rate-limited": "Too many of these in a short while; Retry-After says how long to wait.",
}

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(
    status: int,
    detail: str | None = None,
    *,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    kind: str | None = None,
) -> Response:
    """A problem document as the response."""
    document = Problem(
        type=external_url("api_docs.docs", _anchor=f"problem-{kind}") if kind else "about:blank",
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        errors=errors or [],
    )
    body = document.model_dump_json(exclude_none=True)
    response = Response(body, status=status, mimetype=PROBLEM_TYPE)
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def is_api_request() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


class ApiSessionInterface(SecureCookieSessionInterface):
    """The site's cookie session everywhere but under /api/, where no cookie is read or set.

    So a browser's sign-in can never authenticate an API call, and an API answer never
    refreshes or clears anyone's session.
    """

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if is_api_request():
            return
        super().save_session(app, session, response)


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key and its person, or nobody (a read of public content)."""

    key: ApiKey | None = None
    user: User | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)


_CALLER = "api_caller"


def caller() -> Caller:
    found: Caller = g.get(_CALLER) or Caller()
    return found


def acting_user() -> User:
    """The person the key belongs to; operations that write require a key, so there is one."""
    user = caller().user
    if user is None:  # an operation declared without a scope asked for its person
        raise ApiError(401, "This operation needs an API key.", kind="unauthenticated")
    return user


def viewer() -> Any:
    """Whom visibility rules are applied for: the key's person, or an anonymous visitor."""
    return caller().user or g._login_user


def identify_caller() -> Response | None:
    """Before anything else reads who is signed in: the API key, or nobody.

    Flask-Login's current user is set to the key's person (or an anonymous visitor) for the
    request, so the site's rules that read it (rate limits per person, the private portal's
    gate) see the same person the services are given.
    """
    if not is_api_request():
        return None
    g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="api"'}
    if scheme.lower() != "bearer" or not token.strip():
        return problem(
            401,
            "Send the API key as 'Authorization: Bearer <key>'.",
            headers=challenge,
            kind="unauthenticated",
        )
    # Read in a transaction that writes nothing; the key's last use, at most once a minute, is
    # written in a short one of its own (on SQLite, queued for the write lock like a POST's).
    key = api_keys.authenticate(token.strip(), note_use=False)
    if key is None:
        db.session.rollback()
        return problem(
            401,
            "This API key is not valid: it is unknown, revoked or expired, or its person's "
            "account is suspended. Create a new key on your account page.",
            headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
            kind="invalid-key",
        )
    scopes = api_keys.effective_scopes(key)
    user = key.user
    if api_keys.use_is_due(key):
        with writing():
            api_keys.note_use_of(key)
    # Otherwise the request goes on in this transaction (begun as its method wants it, by the
    # hook before this one): ending it would only expire the key and person, read again later.
    g._login_user = user
    setattr(g, _CALLER, Caller(key=key, user=user, scopes=frozenset(scopes)))
    return None


def require_scope(scope: str | None) -> None:
    """Refuse a caller whose key lacks the scope (no key at all: 401, a lesser key: 403)."""
    if scope is None:
        return
    found = caller()
    if found.key is None:
        raise ApiError(
            401,
            f"This operation needs an API key with the '{scope}' scope.",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
            kind="unauthenticated",
        )
    if scope not in found.scopes:
        raise ApiError(
            403,
            f"This API key lacks the '{scope}' scope this operation needs "
            f"(it has: {', '.join(sorted(found.scopes)) or 'none'}).",
            kind="insufficient-scope",
        )


# ---------------------------------------------------------------------------------------------
# Declaring operations


@dataclass
class Operation:
    method: str
    path: str  # as OpenAPI writes it: /ideas/{idea_id}
    endpoint: str
    summary: str
    description: str
    tag: str
    scope: str | None
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    etag: bool


OPERATIONS: list[Operation] = []
_PATH_PARAM = re.compile(r"{(\w+)}")


def _flask_rule(path: str) -> str:
    return _PATH_PARAM.sub(r"<id:\1>", path)


def _locate(error: dict[str, Any], where: str) -> str:
    parts = [str(part) for part in error.get("loc", ())]
    return ".".join(parts) if parts else where


def _field_problems(exc: ValidationError, where: str) -> list[FieldProblem]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error.get("msg", "is not valid"))
        problems.append(FieldProblem(field=_locate(dict(error), where), message=message))
    return problems


def _query(model: type[BaseModel]) -> BaseModel:
    raw: dict[str, Any] = {}
    for name in request.args:
        # The first of repeated names, as request.args.get reads everywhere on the site.
        value = request.args.get(name, "")
        if value != "":
            raw[name] = value
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(
            400,
            "Some query parameters are not valid.",
            errors=_field_problems(exc, "query"),
            kind="invalid-parameters",
        ) from exc


def _body(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != "application/json":
        raise ApiError(
            415, "Send the body as JSON, with 'Content-Type: application/json'.", kind="not-json"
        )
    raw = request.get_data(cache=False)
    try:
        data = json.loads(raw) if raw else None
    except ValueError as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc}.", kind="not-json") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(
            422,
            "Some fields are not valid.",
            errors=_field_problems(exc, "body"),
            kind="invalid-fields",
        ) from exc


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def json_response(model: BaseModel | None, status: int = 200, *, etag: bool = True) -> Response:
    if model is None:
        response = Response(status=204)
    else:
        body = model.model_dump_json(by_alias=True).encode()
        response = Response(body, status=status, mimetype="application/json")
        if etag:
            tag = etag_of(body)
            response.headers["ETag"] = tag
            if status == 200 and request.method == "GET" and tag in _if_none_match():
                response = Response(status=304, headers={"ETag": tag})
    # A key's answers are its own; nothing between may keep them for anyone else.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Vary"] = "Authorization"
    return response


def _if_none_match() -> set[str]:
    header = request.headers.get("If-None-Match", "")
    return {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}


def check_if_match(current: Callable[[], BaseModel]) -> None:
    """With If-Match, refuse a change to something changed since the caller read it (412).
    `current()` builds what a GET would answer now, only when the header asks."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return
    tag = etag_of(current().model_dump_json(by_alias=True).encode())
    if tag not in {part.strip() for part in header.split(",")}:
        raise ApiError(
            412,
            "It has changed since you read it: read it again, then send your change.",
            kind="changed",
        )


def operation(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    scope: str | None = "read",
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    etag: bool = True,
    limit: Callable[[Callable[..., Response]], Callable[..., Response]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare an API operation; the decorated function takes the path parameters by name and
    `query`/`body` when declared, and returns a model instance (or None for 204)."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def view(**path_params: Any) -> Response:
            require_scope(scope)
            kwargs = dict(path_params)
            if query is not None:
                kwargs["query"] = _query(query)
            elif request.args and method == "GET":
                pass  # unknown parameters are ignored, as a web server would
            if body is not None:
                kwargs["body"] = _body(body)
            key = caller().key
            if key is None:
                result = func(**kwargs)
            else:
                with audit.through(f"the API key “{key.name}” ({key.prefix}…)"):
                    result = func(**kwargs)
            if isinstance(result, Response):
                return result
            return json_response(result, status, etag=etag)

        served = limits.api_limit()(limit(view) if limit is not None else view)
        bp.add_url_rule(
            _flask_rule(path), endpoint=func.__name__, view_func=served, methods=[method]
        )
        OPERATIONS.append(
            Operation(
                method=method.lower(),
                path=path,
                endpoint=f"{bp.name}.{func.__name__}",
                summary=summary,
                description=(func.__doc__ or "").strip(),
                tag=tag,
                scope=scope,
                query=query,
                body=body,
                response=response,
                status=status,
                errors=errors,
                etag=etag,
            )
        )
        return func

    return decorator


# ---------------------------------------------------------------------------------------------
# Turning the domain's errors into problems


def _domain_problem(exc: DomainError) -> Response:
    if isinstance(exc, InvalidFields):
        errors = [FieldProblem(field=f, message=m) for f, m in exc.problems.items()]
        return problem(422, exc.message, errors=errors, kind="invalid-fields")
    if isinstance(exc, InvalidInput):
        errors = [FieldProblem(field=exc.field, message=exc.message)] if exc.field else []
        return problem(422, exc.message, errors=errors, kind="invalid-fields")
    return problem(409, exc.message, kind="refused")


def _http_problem(exc: HTTPException, retry_after: int | None) -> Response:
    status = exc.code or 500
    headers = {}
    if status == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    if status == 429:
        if retry_after:
            headers["Retry-After"] = str(retry_after)
        wait = (
            "Too many requests of this kind in a short while; wait before sending it again "
            "(Retry-After says how many seconds)."
        )
        return problem(429, wait, headers=headers, kind="rate-limited")
    known = {
        404: "There is nothing here, or this key may not see it.",
        405: "This address does not take that method.",
    }
    detail: str | None = known.get(status) or (exc.description if status < 500 else None)
    return problem(status, detail, headers=headers)


def register(app: Flask) -> None:
    """The API's own session rule and identity hook, on an application."""
    app.session_interface = ApiSessionInterface()
    # Called by create_app before the hooks that read who is signed in are registered.
    app.before_request(identify_caller)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    db.session.rollback()
    return problem(exc.status, exc.detail, errors=exc.errors, headers=exc.headers, kind=exc.kind)


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    db.session.rollback()
    return _domain_problem(exc)


@bp.errorhandler(PermissionDenied)
def _permission_denied(_exc: PermissionDenied) -> Response:
    db.session.rollback()
    if caller().user is None:
        return problem(401, "This operation needs an API key.", kind="unauthenticated")
    return problem(403, "This key's person may not do that.", kind="forbidden")


def http_error_for_api(exc: HTTPException, retry_after: int | None) -> Response | None:
    """The site's HTTP error handler asks first: under /api/, a problem document (routing
    errors never reach a blueprint's own handlers)."""
    if not is_api_request():
        return None
    return _http_problem(exc, retry_after)


def server_error_for_api() -> Response | None:
    if not is_api_request():
        return None
    return problem(500, "Something went wrong on our side; it has been logged.")
