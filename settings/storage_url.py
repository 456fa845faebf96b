"""Parse ``STORAGE_URL`` into Django's ``STORAGES["default"]`` entry.

Two forms (see ``docs/storage.md``):

``file:///ABSOLUTE/PATH``
    Django's ``FileSystemStorage`` rooted at that directory (the embedded default is
    ``file://<MEDIA_ROOT>``).

``s3://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET[?secure=0|1][&region=NAME]``
    django-storages' ``S3Storage`` against an S3-compatible server such as MinIO:
    ``endpoint_url`` is ``https://HOST:PORT`` (``http://`` with ``secure=0``), path-style
    addressing, s3v4 signatures, 5 s connect timeout and 3 attempts, no overwriting (``file_overwrite=False``), no ACL, presigned
    URLs (``querystring_auth``), region ``us-east-1`` unless ``region=`` says otherwise.
    Access and secret key are percent-decoded, so a secret containing ``/``, ``:`` or ``@``
    is written ``%2F``, ``%3A``, ``%40``.

Every malformed URL raises ``ImproperlyConfigured`` naming the problem; the secret key is
never part of a message.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

FILE_BACKEND = "django.core.files.storage.FileSystemStorage"
S3_BACKEND = "documents.s3.S3Storage"  # django-storages S3Storage with a shared botocore loader
DEFAULT_REGION = "us-east-1"
#: Downloads through S3Storage's own file objects spill to disk above this many bytes (4 MiB).
S3_MAX_MEMORY_SIZE = 4 * 1024 * 1024

#: Seconds to wait for a TCP connection to the S3 server, and for a response on it.
S3_CONNECT_TIMEOUT = 5
S3_READ_TIMEOUT = 60
#: Attempts per S3 request (botocore "standard" retry mode: 1 try + 2 retries with backoff).
S3_MAX_ATTEMPTS = 3

# S3 bucket naming rules (AWS "Bucket naming rules"): 3-63 characters, lower-case letters,
# digits, dots and hyphens, beginning and ending with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9-]{1,40}$")
_KNOWN_QUERY = {"secure", "region"}


def s3_client_config():
    """The botocore ``Config`` for S3Storage: path-style addressing, s3v4 signatures, and
    short connect timeout and bounded retries so an unreachable server fails within seconds.

    (S3Storage ignores its ``addressing_style``/``signature_version`` options when
    ``client_config`` is given, so both are set here.)
    """
    from botocore.config import Config

    return Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        connect_timeout=S3_CONNECT_TIMEOUT,
        read_timeout=S3_READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": S3_MAX_ATTEMPTS},
    )


def _problem(message: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"STORAGE_URL: {message}")


def _redacted(url: str) -> str:
    """``url`` with everything that may be a secret replaced by ``***`` (for messages).

    With an ``@``: from the first ``:`` after ``//`` to the last ``@`` (a secret may itself
    contain an unencoded ``@``, ``/`` or ``:``); without one, from that ``:`` to the next ``/``.
    Over-redacting is harmless; echoing a secret is not.
    """
    head, sep, rest = url.partition("//")
    if not sep:
        return url
    user, colon, after = rest.partition(":")
    if not colon or "/" in user or "@" in user:
        return url if "@" not in rest else f"{head}//***@{rest.rpartition('@')[2]}"
    if "@" in after:
        return f"{head}//{user}:***@{after.rpartition('@')[2]}"
    _, slash, path = after.partition("/")
    return f"{head}//{user}:***{slash}{path}"


def parse_storage_url(url: str) -> dict:
    """Return the ``STORAGES["default"]`` dict (``BACKEND`` and ``OPTIONS``) for ``url``.

    Raises ``ImproperlyConfigured`` for an empty URL, an unknown scheme, a relative or
    empty file path, a missing host, port, bucket, access key or secret key, a port outside
    1-65535, an invalid bucket name, an unknown query parameter or a ``secure`` value other
    than ``0``/``1``.
    """
    if not url or not url.strip():
        raise _problem("is empty; use file:///ABSOLUTE/PATH or s3://KEY:SECRET@HOST:PORT/BUCKET")
    url = url.strip()
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "file":
        return _file_storage(url)
    if scheme == "s3":
        return _s3_storage(url)
    shown = scheme or _redacted(url)
    raise _problem(f"unknown scheme {shown!r}; use file:///ABSOLUTE/PATH or "
                   "s3://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET")


def _file_storage(url: str) -> dict:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise _problem(f"file URL {url!r} names a host ({parts.netloc!r}); a relative path? "
                       "use three slashes and an absolute path: file:///srv/kelisim/media")
    if parts.query or parts.fragment:
        raise _problem(f"file URL {url!r} takes no query or fragment")
    path = unquote(parts.path)
    if not path or not PurePosixPath(path).is_absolute():
        raise _problem(f"file URL {url!r} needs an absolute path: file:///srv/kelisim/media")
    if ".." in PurePosixPath(path).parts:
        raise _problem(f"file URL {url!r} must not contain '..'")
    return {"BACKEND": FILE_BACKEND, "OPTIONS": {"location": path}}


def _s3_storage(url: str) -> dict:
    shown = _redacted(url)
    parts = urlsplit(url)
    if parts.fragment:
        raise _problem(f"{shown} takes no fragment")
    if "@" not in parts.netloc and "@" in url.partition("//")[2]:
        raise _problem(f"{shown}: the credentials contain '/', '?' or '#'; percent-encode them "
                       "(%2F, %3F, %23)")
    if "@" not in parts.netloc:
        raise _problem(f"{shown} has no credentials; use s3://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET")
    userinfo, _, _hostport = parts.netloc.rpartition("@")
    access_raw, colon, secret_raw = userinfo.partition(":")
    access_key, secret_key = unquote(access_raw), unquote(secret_raw)
    if not access_key:
        raise _problem(f"{shown} has no access key")
    if not colon or not secret_key:
        raise _problem(f"{shown} has no secret key (ACCESS_KEY:SECRET_KEY@...)")
    host = parts.hostname
    if not host:
        raise _problem(f"{shown} has no host")
    try:
        port = parts.port
    except ValueError:
        raise _problem(f"{shown} has a bad port; it must be a number from 1 to 65535") from None
    if port is None:
        raise _problem(f"{shown} has no port (HOST:PORT, e.g. minio:9000)")
    if not 1 <= port <= 65535:
        raise _problem(f"{shown} has a bad port {port}; it must be from 1 to 65535")
    segments = [segment for segment in parts.path.split("/") if segment]
    if not segments:
        raise _problem(f"{shown} has no bucket (s3://KEY:SECRET@HOST:PORT/BUCKET)")
    if len(segments) > 1:
        raise _problem(f"{shown}: the path must be just the bucket name, found {parts.path!r}")
    bucket = segments[0]
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise _problem(f"{shown}: {bucket!r} is not a valid bucket name (3-63 characters: "
                       "lower-case letters, digits, dots, hyphens)")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _problem(f"{shown} has a malformed query {parts.query!r}") from None
    unknown = sorted(set(query) - _KNOWN_QUERY)
    if unknown:
        raise _problem(f"{shown}: unknown parameter(s) {', '.join(unknown)}; known: secure, region")
    for name, values in query.items():
        if len(values) > 1:
            raise _problem(f"{shown}: parameter {name} is given {len(values)} times")
    secure_text = query.get("secure", ["1"])[0]
    if secure_text not in ("0", "1"):
        raise _problem(f"{shown}: secure must be 0 or 1, not {secure_text!r}")
    secure = secure_text == "1"
    region = query.get("region", [DEFAULT_REGION])[0]
    if not _REGION.match(region):
        raise _problem(f"{shown}: {region!r} is not a region name (e.g. us-east-1)")
    netloc_host = f"[{host}]" if ":" in host else host
    return {
        "BACKEND": S3_BACKEND,
        "OPTIONS": {
            "access_key": access_key,
            "secret_key": secret_key,
            "bucket_name": bucket,
            "endpoint_url": f"{'https' if secure else 'http'}://{netloc_host}:{port}",
            "use_ssl": secure,
            "region_name": region,
            "client_config": s3_client_config(),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
            "max_memory_size": S3_MAX_MEMORY_SIZE,
        },
    }
