"""The explorer page graph serves to a browser: static files from shared/web/static/, with ETags.

The page calls graph (plots, /features) on its own origin, and submit and status at the public
URLs graph is configured with; where those are unset (behind the compose gateway) it uses its
own origin for them too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from urllib.parse import urlsplit

import flask

from shared.web.http import Route, json_response

STATIC = Path(__file__).parent / "static"
#: The files the page loads besides itself, with what each is.
ASSETS = {"explorer.css": "the page's stylesheet", "explorer.js": "the page's script", "icon.svg": "its icon"}
MEDIA_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
#: Revalidate every time: a 304 costs no body, and a new deployment's page is seen at once.
CACHE_CONTROL = "no-cache"


@cache
def _file(name: str) -> tuple[bytes, str]:
    """The file's bytes and a strong ETag made from them (read once per process)."""
    body = (STATIC / name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:32]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""


@dataclass(frozen=True)
class Explorer:
    """The page, its stylesheet and script, and where it finds submit and status."""

    submit_base_url: str = ""
    status_base_url: str = ""

    def routes(self) -> list[Route]:
        """The routes of the page's files and of where it finds submit and status (GET / is the page)."""
        files = [Route("GET", f"/explorer/{n}", partial(self.static, name=n), s) for n, s in ASSETS.items()]
        services = Route("GET", "/explorer/services", self.services, "where the page finds submit and status")
        return [*files, services]

    def static(self, request: flask.Request, name: str) -> flask.Response:
        """One file of shared/web/static/, with its ETag; 304 when ``If-None-Match`` names it."""
        body, etag = _file(name)
        response = flask.Response(body, mimetype=MEDIA_TYPES[Path(name).suffix])
        response.set_etag(etag)
        response.headers["Cache-Control"] = CACHE_CONTROL
        response.headers["X-Content-Type-Options"] = "nosniff"
        if name.endswith(".html"):
            response.headers["Content-Security-Policy"] = self.content_security_policy()
        return response.make_conditional(request)

    def page(self, request: flask.Request) -> flask.Response:
        return self.static(request, "explorer.html")

    def content_security_policy(self) -> str:
        """Nothing but this deployment: graph itself, and submit's and status's origins."""
        others = " ".join(sorted({_origin(u) for u in (self.submit_base_url, self.status_base_url)} - {""}))
        own = f"'self' {others}".strip()
        return (
            f"default-src 'self'; connect-src {own}; img-src {own}; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )

    def services(self, request: flask.Request) -> flask.Response:
        """Where the page posts samples and reads jobs: ``{"submit": url, "status": base URL}``."""
        body = {"submit": f"{self.submit_base_url}/submit", "status": self.status_base_url}
        return json_response(body, headers={"Cache-Control": CACHE_CONTROL})
