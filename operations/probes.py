"""Probes of the services Kelisim needs: the database, the Celery broker, the file storage.

Each probe returns a :class:`Probe` and never raises: ``ok``, the time it took (``latency_ms``),
``target`` (where it looked: ``host:port`` and database or bucket name, never a password or
key) and, on failure, ``error`` (the exception's type and message with every configured
secret replaced by ``***``). Used by the readiness endpoint (``/ready/``) and the deployment
checks (:mod:`operations.checks`). Timeouts are short: the database's ``connect_timeout``
(``KELISIM_DB_CONNECT_TIMEOUT``, 5 s), :data:`BROKER_TIMEOUT`, :data:`STORAGE_TIMEOUT`.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from urllib.parse import unquote, urlsplit

from django.conf import settings

#: Seconds to wait for the broker's TCP connection.
BROKER_TIMEOUT = 3
#: Seconds to wait for the S3 server (connection and answer); one attempt, no retries.
STORAGE_TIMEOUT = 3
_DEFAULT_PORTS = {"redis": 6379, "rediss": 6380, "amqp": 5672, "amqps": 5671, "pyamqp": 5672}


@dataclasses.dataclass
class Probe:
    """The outcome of one probe (see the module docstring)."""

    name: str
    ok: bool
    latency_ms: float
    target: str
    error: str = ""

    def as_json(self) -> dict:
        """``{"status": "ok"|"error", "latency_ms": float}`` plus ``"error"``: the exception's
        type only (the readiness answer is public; details go to the log)."""
        answer = {"status": "ok" if self.ok else "error", "latency_ms": round(self.latency_ms, 1)}
        if not self.ok:
            answer["error"] = self.error.split(":", 1)[0]
        return answer


def _secrets() -> list[str]:
    found = [settings.DATABASES["default"].get("PASSWORD") or ""]
    broker = urlsplit(getattr(settings, "CELERY_BROKER_URL", "") or "")
    found.append(unquote(broker.password or "") if broker.password else "")
    options = settings.STORAGES["default"].get("OPTIONS", {})
    found += [options.get("secret_key") or "", options.get("access_key") or ""]
    return [s for s in found if s and len(s) >= 3]


def scrub(text: str) -> str:
    """``text`` with every configured password and key replaced by ``***``."""
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text


def _run(name: str, target: str, action) -> Probe:
    start = time.perf_counter()
    try:
        action()
    except Exception as exc:  # a probe reports, it never raises
        message = " ".join(str(exc).split())[:500]
        return Probe(name, False, (time.perf_counter() - start) * 1000, target,
                     scrub(f"{type(exc).__name__}: {message}"))
    return Probe(name, True, (time.perf_counter() - start) * 1000, target)


def database_target(alias: str = "default") -> str:
    """``host:port/name`` of the database (the file path for SQLite)."""
    conf = settings.DATABASES[alias]
    if "sqlite" in conf["ENGINE"]:
        return str(conf["NAME"])
    return f"{conf.get('HOST') or 'localhost'}:{conf.get('PORT') or 5432}/{conf.get('NAME')}"


def probe_database(alias: str = "default") -> Probe:
    """Open (or reuse) the connection and run ``SELECT 1``."""
    from django.db import connections

    def action():
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    return _run("database", database_target(alias), action)


def broker_target() -> str:
    """``scheme://host:port`` of ``CELERY_BROKER_URL`` (no credentials), or ``eager`` without a broker."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager (tasks run in-process, no broker)"
    url = urlsplit(settings.CELERY_BROKER_URL)
    return f"{url.scheme}://{url.hostname or 'localhost'}:{url.port or _DEFAULT_PORTS.get(url.scheme, '?')}"


def probe_broker() -> Probe:
    """Connect to the broker with kombu (``BROKER_TIMEOUT``, one attempt); always ok when tasks
    run eagerly (embedded mode: no broker configured)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return Probe("broker", True, 0.0, broker_target())

    def action():
        from kombu import Connection

        with Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT,
                        transport_options={"socket_timeout": BROKER_TIMEOUT,
                                           "socket_connect_timeout": BROKER_TIMEOUT}) as conn:
            conn.ensure_connection(max_retries=0)  # one attempt: a probe must answer quickly

    return _run("broker", broker_target(), action)


def storage_target() -> str:
    """``endpoint/bucket`` (S3) or the directory (file storage) of ``STORAGES["default"]``."""
    conf = settings.STORAGES["default"]
    options = conf.get("OPTIONS", {})
    if conf["BACKEND"].endswith("S3Storage"):
        endpoint = urlsplit(options["endpoint_url"])
        return f"{endpoint.scheme}://{endpoint.netloc}/{options['bucket_name']}"
    return str(options.get("location") or settings.MEDIA_ROOT)


def probe_storage() -> Probe:
    """S3: ``HeadBucket`` on the configured bucket (one attempt, ``STORAGE_TIMEOUT``); file
    storage: the directory exists and a file can be created in it (and is removed)."""
    conf = settings.STORAGES["default"]
    options = conf.get("OPTIONS", {})

    if conf["BACKEND"].endswith("S3Storage"):
        def action():
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3", endpoint_url=options["endpoint_url"], aws_access_key_id=options["access_key"],
                aws_secret_access_key=options["secret_key"], region_name=options.get("region_name"),
                config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                              connect_timeout=STORAGE_TIMEOUT, read_timeout=STORAGE_TIMEOUT,
                              retries={"mode": "standard", "max_attempts": 1}))
            client.head_bucket(Bucket=options["bucket_name"])
    else:
        def action():
            from pathlib import Path

            location = Path(options.get("location") or settings.MEDIA_ROOT)
            if not location.is_dir():
                raise FileNotFoundError(f"{location} is not a directory")
            with tempfile.NamedTemporaryFile(dir=location, prefix=".kelisim-ready-"):
                pass

    return _run("storage", storage_target(), action)


def probe_all() -> list[Probe]:
    """The database, broker and storage probes, in that order."""
    return [probe_database(), probe_broker(), probe_storage()]
