"""A container's healthcheck: ``python -m shared.web.healthcheck [--tcp]`` exits 0 while its function answers.

HTTP functions must answer ``GET /health/readiness`` on ``$PORT`` with a 2xx; with ``--tcp``
(render: the cloudevent signature serves POST only) the port must accept a connection, as
Knative's default probe asks. A module rather than an inline ``python -c`` line: podman's
Docker-compatible API splits a healthcheck's arguments at spaces.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request


def main(argv: list[str]) -> int:
    port = int(os.environ.get("PORT", "8080"))
    try:
        if "--tcp" in argv:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        else:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/readiness", timeout=2).close()
    except OSError as error:  # refused, timed out, or an HTTP error status
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
