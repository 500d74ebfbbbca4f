"""A stand-in for Kaggle's API on 127.0.0.1:7777, where kagglehub calls with KAGGLE_API_ENVIRONMENT=TEST.

It answers the three calls a dataset download makes: ``POST .../GetDataset`` (JSON with
``currentVersionNumber``), ``POST .../DownloadDataset`` (a 302 to a file URL) and the ``GET`` of
that file (a zip of data.csv, with ``Content-Length`` and an ``x-goog-hash`` MD5 that kagglehub
checks). It checks the credentials as Kaggle does (Basic username:key, or a Bearer token) and can
be told to fail one call with a status, or to send a corrupt file. Every request is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST, PORT = "127.0.0.1", 7777
API = "/api/v1/datasets.DatasetApiService"
GET_DATASET = f"{API}/GetDataset"
DOWNLOAD_DATASET = f"{API}/DownloadDataset"
USERNAME, KEY, TOKEN = (
    "tumorscope-tester",
    "0123456789abcdef0123456789abcdef",
    "KGAT_feedfacecafebeef0123456789",
)


def zipped(name: str, content: bytes) -> bytes:
    """A zip holding one file, as Kaggle serves a dataset file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


@dataclass
class Kaggle:
    """What the stand-in serves; a test changes it before running the command."""

    #: The bytes of the file behind the download's redirect (a zip of data.csv by default).
    body: bytes = b""
    #: The last part of the file URL: kagglehub unzips ``data.csv.zip`` itself, other zips are ours to open.
    file_name: str = "data.csv.zip"
    #: call ("GetDataset", "DownloadDataset" or "file") -> the error status it answers.
    fail: dict[str, int] = field(default_factory=dict)
    #: Headers added to an error answer (Retry-After for a 429).
    error_headers: dict[str, str] = field(default_factory=dict)
    #: "md5" sends a checksum that does not match; "short" a Content-Length past the bytes sent.
    corrupt: str = ""
    version: int = 2
    #: Seconds the file's answer waits before its first byte (a Kaggle that hangs).
    delay: float = 0.0
    #: (method, path, Authorization header) of every request, in order.
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    def serve_csv(self, content: bytes, file_name: str = "data.csv.zip") -> None:
        """Serve ``content`` as data.csv: zipped, unless ``file_name`` says it is the CSV itself."""
        self.file_name = file_name
        self.body = zipped("data.csv", content) if file_name.endswith(".zip") else content

    def calls(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.requests]

    def authorized(self, header: str) -> bool:
        basic = base64.b64encode(f"{USERNAME}:{KEY}".encode()).decode()
        return header in (f"Basic {basic}", f"Bearer {TOKEN}")


class _Handler(BaseHTTPRequestHandler):
    kaggle: Kaggle  # set on the subclass the server is made with

    def log_message(self, *_args) -> None:  # quiet: the test asserts on .requests
        pass

    def _record(self) -> None:
        self.kaggle.requests.append((self.command, self.path, self.headers.get("Authorization", "")))

    def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _refused(self, call: str) -> bool:
        """Answer an error if ``call`` is told to fail or the credentials are wrong."""
        status = self.kaggle.fail.get(call)
        if (
            status is None
            and call != "file"
            and not self.kaggle.authorized(self.headers.get("Authorization", ""))
        ):
            status = 401
        if status is None:
            return False
        message = {
            401: "Unauthenticated",
            403: "Permission denied",
            404: "Not found",
            429: "Too many requests",
        }
        self._json(
            status, {"code": status, "message": message.get(status, "Error")}, self.kaggle.error_headers
        )
        return True

    def do_POST(self) -> None:
        self._record()
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path == GET_DATASET:
            if not self._refused("GetDataset"):
                self._json(
                    200,
                    {
                        "ref": f"{request.get('ownerSlug')}/{request.get('datasetSlug')}",
                        "currentVersionNumber": self.kaggle.version,
                    },
                )
        elif self.path == DOWNLOAD_DATASET:
            if not self._refused("DownloadDataset"):
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{PORT}/files/{self.kaggle.file_name}")
                self.send_header("Content-Length", "0")
                self.end_headers()
        else:
            self._json(404, {"code": 404, "message": f"no route {self.path}"})

    def do_GET(self) -> None:
        self._record()
        if not self.path.startswith("/files/"):
            self._json(404, {"code": 404, "message": f"no route {self.path}"})
            return
        if self._refused("file"):
            return
        time.sleep(self.kaggle.delay)
        body = self.kaggle.body
        md5 = hashlib.md5(body if self.kaggle.corrupt != "md5" else body + b"x").digest()
        self.send_response(200)
        self.send_header("Content-Type", "application/zip" if self.path.endswith(".zip") else "text/csv")
        self.send_header("Content-Length", str(len(body) + (1000 if self.kaggle.corrupt == "short" else 0)))
        self.send_header("x-goog-hash", f"md5={base64.b64encode(md5).decode()}")
        self.end_headers()
        self.wfile.write(body)
        if self.kaggle.corrupt == "short":
            self.close_connection = True


class KaggleStandIn:
    """The stand-in, serving in a thread on 127.0.0.1:7777 until closed."""

    def __init__(self, kaggle: Kaggle | None = None) -> None:
        self.kaggle = kaggle or Kaggle()
        handler = type("Handler", (_Handler,), {"kaggle": self.kaggle})
        self.server = ThreadingHTTPServer((HOST, PORT), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
