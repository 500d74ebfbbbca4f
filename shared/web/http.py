"""The HTTP edge shared by the functions: routing, JSON bodies and JSON errors."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import flask
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule

from shared.errors import ApiError, at_capacity, bad_request, unavailable
from shared.observability import logs
from shared.store.redis_client import FULL_ERROR, UNAVAILABLE_ERRORS

log = logging.getLogger("tumorscope")

Handler = Callable[..., flask.Response]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str


class Router:
    """Dispatches a request to the route that matches it (werkzeug's URL map does the matching).

    Every service also gets ``GET /`` (this index, or ``page`` for a browser) and the two probe
    routes, and ``OPTIONS`` on any of its paths answers 204 with ``Allow``.
    """

    def __init__(self, service: str, routes: Iterable[Route], page: Handler | None = None) -> None:
        self.service = service
        self.page = page
        self.routes = [
            Route("GET", "/", self.answer_index, "this index"),
            *routes,
            Route("GET", "/health/readiness", health, "readiness probe"),
            Route("GET", "/health/liveness", health, "liveness probe"),
        ]
        self._map = Map(
            [Rule(r.path, endpoint=i, methods=[r.method]) for i, r in enumerate(self.routes)],
            strict_slashes=False,
        )

    def dispatch(self, request: flask.Request) -> flask.Response:
        # NotFound and MethodNotAllowed (with its Allow header) reach the JSON error handler.
        adapter = self._map.bind_to_environ(request.environ)
        if request.method == "OPTIONS":  # what a path takes; a CORS preflight needs a 2xx
            allowed = adapter.allowed_methods()
            if not allowed:
                raise NotFound()
            answer = flask.Response(status=204, headers={"Allow": ", ".join(sorted({*allowed, "OPTIONS"}))})
            del answer.headers["Content-Type"]
            return answer
        index, arguments = adapter.match()
        return self.routes[index].handler(request, **arguments)

    def answer_index(self, request: flask.Request) -> flask.Response:
        """The JSON index of ``GET /``: every route with what it does (``page`` to a browser)."""
        if self.page is not None and prefers_html(request):
            return self.page(request)
        routes = [{"method": r.method, "path": r.path, "summary": r.summary} for r in self.routes]
        return json_response({"service": self.service, "routes": routes})


def prefers_html(request: flask.Request) -> bool:
    """Whether the client asks for HTML before JSON, as a browser does; curl's ``*/*`` does not."""
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    response = flask.Response(
        json.dumps(body, separators=(",", ":"), allow_nan=False),
        status=status,
        mimetype="application/json",
    )
    response.headers.update(headers or {})
    return response


def health(_request: flask.Request) -> flask.Response:
    """Liveness and readiness: the process is up and serving (Redis is checked per request)."""
    return json_response({"status": "ok"})


def _reject_constant(name: str) -> None:
    raise bad_request("invalid_json", f"{name} is not valid JSON; send finite numbers")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise bad_request("duplicate_key", f"duplicate keys in JSON object: {', '.join(duplicates)}")
    return dict(pairs)


def _too_large(request: flask.Request, max_bytes: int) -> ApiError:
    # functions-framework reads the whole body after every response; give it nothing to read.
    request.stream = io.BytesIO()
    return ApiError(
        413, "body_too_large", f"the body is over {max_bytes} bytes", headers={"Connection": "close"}
    )


def read_json(request: flask.Request, max_bytes: int) -> Any:
    """The request's JSON body: 415 unless JSON, 413 over ``max_bytes``, 400 if malformed."""
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the sample as JSON with 'Content-Type: application/json'",
        )
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(request, max_bytes)
    raw = request.stream.read(max_bytes + 1)  # a chunked body has no Content-Length to check
    if len(raw) > max_bytes:
        raise _too_large(request, max_bytes)
    try:
        return json.loads(
            raw,
            parse_constant=_reject_constant,
            object_pairs_hook=_reject_duplicates,
        )
    except (ValueError, RecursionError) as error:
        raise bad_request("invalid_json", f"the body is not valid JSON: {error}") from None


def _api_error(error: ApiError) -> flask.Response:
    logs.bind(error_code=error.code)
    return json_response(error.body(), error.status, error.headers)


def _http_error(error: HTTPException) -> flask.Response:
    status = error.code or 500
    if status >= 500:
        log.error("internal error: %r", getattr(error, "original_exception", error))
        logs.bind(error_code="internal")
        return json_response(
            {"error": {"code": "internal", "message": "internal error; it has been logged"}},
            500,
        )
    headers = {k: v for k, v in error.get_headers() if k.lower() not in {"content-type", "content-length"}}
    code = (error.name or "error").lower().replace(" ", "_")
    message = (error.description or error.name).splitlines()[0]  # no echo of headers or bodies
    logs.bind(error_code=code)
    return json_response({"error": {"code": code, "message": message}}, status, headers)


def _redis_unavailable(error: Exception) -> flask.Response:
    log.warning("redis unavailable: %s", error)
    return _api_error(unavailable("Redis"))


def _redis_full(error: Exception) -> flask.Response:
    log.warning("redis refused a write for memory: %s", error)
    return _api_error(at_capacity())


def install_error_handlers(errorhandler: Callable[[Any], Callable[[Callable], Callable]]) -> None:
    """Make every error JSON: pass ``functions_framework.errorhandler`` from a function's main.py."""
    errorhandler(ApiError)(_api_error)
    errorhandler(HTTPException)(_http_error)
    errorhandler(500)(_http_error)  # replaces functions-framework's plain-text crash handler
    for error_type in UNAVAILABLE_ERRORS:
        errorhandler(error_type)(_redis_unavailable)
    errorhandler(FULL_ERROR)(_redis_full)
