"""The container's health check: ``python -m operations.healthcheck [PATH]`` (default ``/ready/``).

Asks this machine's gunicorn (``GUNICORN_BIND``'s port, default 8000) for ``PATH`` with the
``Host`` header of the first ``ALLOWED_HOSTS`` entry (so production's host validation accepts
it) and exits 0 on 200, 1 otherwise, printing the answer. Imports nothing of Django: it is
cheap enough to run every few seconds.
"""

from __future__ import annotations

import http.client
import os
import sys


def host_header(allowed_hosts: str) -> str:
    """The Host to send: the first ``ALLOWED_HOSTS`` entry (``.example.org`` -> ``example.org``;
    ``*`` or none -> ``localhost``)."""
    first = next((h.strip() for h in allowed_hosts.split(",") if h.strip()), "")
    first = first.lstrip(".")
    return "localhost" if first in ("", "*") else first


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/ready/"
    port = int(os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rpartition(":")[2] or 8000)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host_header(os.environ.get("ALLOWED_HOSTS", ""))})
        response = connection.getresponse()
        body = response.read(2000).decode("utf-8", "replace")
    except OSError as exc:
        print(f"GET {path} on port {port}: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    print(f"GET {path}: {response.status} {body}")
    return 0 if response.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
