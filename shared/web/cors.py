"""CORS for submit and status, so that the explorer page graph serves may call them from a browser."""

from __future__ import annotations

from collections.abc import Sequence

import flask

#: Headers a page may send beyond the CORS-safelisted ones (JSON bodies, submit's idempotency key).
ALLOWED_HEADERS = ("Content-Type", "Idempotency-Key")
#: Headers of our answers a page may read beyond the safelisted ones.
EXPOSED_HEADERS = ("Location", "Retry-After", "Idempotent-Replayed", "RateLimit", "RateLimit-Policy")
#: How long a browser may keep a preflight's answer.
PREFLIGHT_MAX_AGE_SECONDS = 600


def allow_cross_origin(origins: Sequence[str]) -> None:
    """Answer CORS requests from ``origins`` (errors included) on the app that is loading this function.

    Call it from a function's main.py, which functions-framework runs inside its Flask app's
    context. flask-cors adds the headers; a request from any other origin gets none. No origins:
    nothing is installed.
    """
    if not origins:
        return
    from flask_cors import CORS

    flask.current_app.after_request(_vary_on_origin)  # runs after flask-cors's own (last in, first run)
    CORS(
        flask.current_app,
        origins=list(origins),
        methods=["GET", "POST"],
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
        always_send=False,  # requests without an Origin (curl) get no CORS headers
    )


def _vary_on_origin(response: flask.Response) -> flask.Response:
    """Whether CORS headers are sent depends on Origin: say so to caches, whatever the answer."""
    response.vary.add("Origin")
    return response
