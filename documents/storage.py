"""Checksummed file storage through Django's storage API.

Every file is written once under a unique ASCII key and recorded with its sha256 and size;
every read recomputes the sha256 and refuses a mismatch.

The storage is Django's ``default`` storage, chosen by ``STORAGE_URL`` (see
``settings/storage_url.py`` and ``docs/storage.md``): the file system in embedded mode, or
an S3-compatible server (MinIO) through django-storages' ``S3Storage``.

"Checksum" always means Kelisim's own sha256 of the bytes, computed while streaming them in
chunks; an S3 ETag (an MD5, or an MD5 of part MD5s with a ``-N`` suffix after a multipart
upload) is never trusted as a checksum.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.http import content_disposition_header

from .models import Document, DocumentVersion

security_log = logging.getLogger("kelisim.security")

#: Bytes read at a time when hashing or streaming a stored file (1 MiB).
CHUNK_SIZE = 1024 * 1024


class StorageError(Exception):
    """The file could not be written or read."""


class ChecksumMismatch(StorageError):
    """The stored bytes no longer match the recorded sha256 (corruption or tampering)."""


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def ascii_slug(text: str) -> str:
    """Return ``text`` reduced to ``[A-Za-z0-9._-]`` (other runs become ``-``), never empty."""
    return _UNSAFE.sub("-", text).strip("-.") or "x"


def storage_key_for(document: Document, number: int, extension: str) -> str:
    """Build a unique ASCII storage key: ``owner/stage/kind[-key]-lang-vN-RANDOM.ext``."""
    owner = "/".join(ascii_slug(part) for part in document.owner_ref.split("/"))
    kind = ascii_slug(document.kind + (f"-{document.key}" if document.key else ""))
    token = uuid.uuid4().hex[:12]
    return f"{owner}/{ascii_slug(document.stage)}/{kind}-{document.language}-v{number}-{token}.{ascii_slug(extension)}"


def _is_s3(storage=None) -> bool:
    return bool(getattr(storage or default_storage, "bucket_name", None))


def storage_name() -> str:
    """A description of the default storage for messages, never containing a secret.

    ``S3 bucket 'kelisim' at http://127.0.0.1:9000`` or ``file storage /srv/kelisim/media``.
    """
    if _is_s3():
        return f"S3 bucket {default_storage.bucket_name!r} at {default_storage.endpoint_url or 'AWS'}"
    location = getattr(default_storage, "location", None)
    if location:
        return f"file storage {location}"
    return type(default_storage._wrapped).__name__


def _hash_stream(content: File) -> tuple[str, int]:
    """Return ``(sha256 hex, size in bytes)`` of ``content``, read chunk by chunk."""
    digest = hashlib.sha256()
    size = 0
    for chunk in content.chunks(CHUNK_SIZE):
        if isinstance(chunk, str):  # a text-mode File; storage would write it encoded as UTF-8
            chunk = chunk.encode()
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class _Payload(File):
    """The bytes to write, labelled with the content type recorded for the version.

    S3Storage sends ``content_type`` as the object's ``Content-Type``; the file system
    ignores it.
    """

    def __init__(self, source, name: str, content_type: str):
        super().__init__(source, name=name)
        self.content_type = content_type


def store_version(
    *,
    document: Document,
    content,
    extension: str,
    content_type: str,
    original_name: str,
    created_by=None,
    template_name: str = "",
    template_version: str = "",
) -> DocumentVersion:
    """Write ``content`` as the next version of ``document`` and return the version row.

    ``content`` is ``bytes`` or a Django ``File``/``UploadedFile`` (anything with
    ``.chunks()``; it must be seekable). A file is never held in memory whole: its sha256
    and size are computed in a first pass over 1 MiB chunks, then the storage backend
    streams it (S3: a multipart upload above the transfer threshold). The recorded sha256
    is of the bytes we sent, never the S3 ETag.

    The file is written first; if recording the row fails, the file is deleted again, so a
    failed step leaves storage as it was. Raises :class:`StorageError` (naming the storage)
    when the storage cannot be written.
    """
    if isinstance(content, (bytes, bytearray, memoryview)):
        raw = bytes(content)
        sha256, size = hashlib.sha256(raw).hexdigest(), len(raw)
        payload = _Payload(ContentFile(raw).file, "upload", content_type)
    elif hasattr(content, "chunks"):
        sha256, size = _hash_stream(content)
        payload = _Payload(content, "upload", content_type)
    else:
        raise TypeError(f"content must be bytes or a django File, not {type(content).__name__}")
    with transaction.atomic():
        locked = Document.objects.select_for_update().get(pk=document.pk)
        number = (locked.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        key = storage_key_for(document, number, extension)
        try:
            saved_key = default_storage.save(key, payload)
        except Exception as exc:  # storage backends raise many kinds of errors
            _delete_quietly(key)
            raise StorageError(f"could not write {key} to {storage_name()}: {exc}") from exc
        try:
            return DocumentVersion.objects.create(
                document=document,
                number=number,
                storage_key=saved_key,
                original_name=original_name,
                sha256=sha256,
                size=size,
                content_type=content_type,
                template_name=template_name,
                template_version=template_version,
                created_by=created_by,
            )
        except Exception:
            _delete_quietly(saved_key)
            raise


def _delete_quietly(key: str) -> None:
    """Delete ``key`` if it can be deleted; a failed cleanup must not hide the first error."""
    try:
        default_storage.delete(key)
    except Exception:  # the storage may be the thing that failed
        logging.getLogger(__name__).warning("could not delete %s after a failed write", key)


def stream_object(key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the bytes stored under ``key`` in chunks of at most ``chunk_size`` bytes.

    On S3 the object body is streamed from the GET response (S3Storage's own file object
    would first download the whole object into a temporary buffer). Raises
    ``FileNotFoundError`` when there is no such object; other storage errors pass through.
    """
    if _is_s3():
        from botocore.exceptions import ClientError

        name = default_storage._normalize_name(key)
        try:
            body = default_storage.bucket.Object(name).get()["Body"]
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404") or \
                    err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                raise FileNotFoundError(f"no object {key}") from err
            raise
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()
        return
    with default_storage.open(key, "rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def _refuse(version: DocumentVersion, digest: str, size: int) -> ChecksumMismatch:
    security_log.error(
        "checksum mismatch for %s (%s): recorded sha256 %s size %s, found sha256 %s size %s",
        version, version.storage_key, version.sha256, version.size, digest, size,
    )
    return ChecksumMismatch(
        f"{version}: stored bytes do not match the recorded sha256 "
        f"(recorded {version.sha256[:12]}..., found {digest[:12]}...); the file was changed"
    )


def iter_verified_chunks(version: DocumentVersion, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the stored bytes of ``version`` in chunks of at most ``chunk_size`` bytes.

    The sha256 and size are checked before the *last* chunk is released: one chunk is held
    back, so a consumer that gets every chunk without an exception got exactly the recorded
    bytes. Trade-off: the chunks before the last one have already been handed out when a
    mismatch is found, so a streamed HTTP response is cut short (the client sees a truncated
    download) rather than refused with a status code; use :func:`read_verified` when the whole
    file must be checked before anything is sent. Raises :class:`StorageError` and
    :class:`ChecksumMismatch` (logged to ``kelisim.security``).
    """
    digest = hashlib.sha256()
    size = 0
    held = None
    chunks = stream_object(version.storage_key, chunk_size)
    try:
        while True:
            try:
                chunk = next(chunks, b"")
            except FileNotFoundError as exc:
                raise StorageError(f"{version}: stored object {version.storage_key} is missing "
                                   f"from {storage_name()}") from exc
            except Exception as exc:  # e.g. botocore errors: the storage cannot be reached
                raise StorageError(f"{version}: could not read {version.storage_key} from "
                                   f"{storage_name()}: {exc}") from exc
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if held is not None:
                yield held
            held = chunk
    finally:
        chunks.close()
    found = digest.hexdigest()
    if found != version.sha256 or size != version.size:
        raise _refuse(version, found, size)
    if held is not None:
        yield held


def read_verified(version: DocumentVersion) -> bytes:
    """Return the stored bytes of ``version`` after checking their sha256 and size.

    Raises :class:`StorageError` when the object is missing or the storage cannot be read
    and :class:`ChecksumMismatch` (also logged to ``kelisim.security``) when the bytes differ
    from what was recorded.
    """
    return b"".join(iter_verified_chunks(version))


def stored_digest(key: str) -> tuple[str, int]:
    """Stream the object stored under ``key`` and return its ``(sha256 hex, size in bytes)``.

    Compares and logs nothing (``verify_storage`` reports the result). Raises
    ``FileNotFoundError`` when the object is missing and other exceptions from the storage.
    """
    digest = hashlib.sha256()
    size = 0
    for chunk in stream_object(key):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def ascii_filename(version) -> str:
    """An ASCII name for ``version`` for clients that ignore ``filename*``.

    The original name if it is plain ASCII; otherwise one built from the owner, kind,
    language and version number (e.g. ``TC-2017-A1-diagnosis_report-ru-v1.docx``).
    """
    name = version.original_name
    if name and name.isascii() and name.isprintable():
        return name
    document = version.document
    extension = os.path.splitext(name)[1] or os.path.splitext(version.storage_key)[1]
    kind = document.kind + (f"-{document.key}" if document.key else "")
    stem = ascii_slug(f"{document.owner_ref}-{kind}-{document.language}-v{version.number}")
    ascii_extension = unicodedata.normalize("NFKD", extension).encode("ascii", "ignore").decode()
    return stem + ascii_extension


def attachment_header(version) -> str:
    """``Content-Disposition`` with an ASCII ``filename`` and RFC 5987 ``filename*=UTF-8''...``.

    E.g. ``attachment; filename="TC-2017-A1-...-v1.docx"; filename*=UTF-8''%D3%A8...docx``
    (RFC 6266 section 4.3: clients that understand ``filename*`` prefer it).
    """
    fallback = content_disposition_header(True, ascii_filename(version))
    return f"{fallback}; filename*=UTF-8''{quote(version.original_name or ascii_filename(version), safe='')}"


def presigned_url(version: DocumentVersion, expires: int = 300) -> str | None:
    """A time-limited URL from which the client downloads ``version`` directly, or ``None``.

    For S3 storage: a presigned ``GET`` valid ``expires`` seconds whose response carries
    ``Content-Disposition`` (:func:`attachment_header`, so the original name in any script
    survives) and the recorded ``Content-Type``. The bytes fetched this way are not re-hashed
    by Kelisim (S3 serves them); the portal view verifies first, then redirects. For file
    storage: ``None`` (the portal view serves the file itself).
    """
    if not _is_s3():
        return None
    return default_storage.url(
        version.storage_key,
        parameters={
            "ResponseContentDisposition": attachment_header(version),
            "ResponseContentType": version.content_type or "application/octet-stream",
        },
        expire=expires,
    )


# -- verify_storage ------------------------------------------------------------------------------

class StorageUnreachable(StorageError):
    """The storage as a whole cannot be reached (S3 server down, bucket or directory absent)."""


@dataclass
class StorageProblem:
    """One finding of :func:`verify_storage`: ``kind`` is missing, corrupted or orphaned."""

    kind: str
    key: str
    record_id: int | None = None
    version: str = ""
    detail: str = ""

    def line(self) -> str:
        """``missing KEY (VERSION)``, ``corrupted KEY (VERSION): DETAIL`` or ``orphaned KEY (DETAIL)``."""
        if self.kind == "orphaned":
            return f"orphaned {self.key} ({self.detail})"
        text = f"{self.kind} {self.key} ({self.version})"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass
class StorageReport:
    """Outcome of :func:`verify_storage`: counts and problems, missing first."""

    storage: str
    records_checked: int = 0
    objects_listed: int = 0
    problems: list[StorageProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, kind: str) -> int:
        return sum(1 for problem in self.problems if problem.kind == kind)


def _unreachable(exc: Exception) -> StorageUnreachable:
    return StorageUnreachable(f"cannot reach {storage_name()}: {exc}")


def _probe() -> bool:
    """Check that the storage answers. Return False for a file storage directory that does
    not exist (fine while nothing is recorded: a fresh installation). Raises
    :class:`StorageUnreachable`."""
    if _is_s3():
        try:
            default_storage.connection.meta.client.head_bucket(Bucket=default_storage.bucket_name)
        except Exception as exc:  # botocore: EndpointConnectionError, ClientError 403/404, ...
            raise _unreachable(exc) from exc
        return True
    location = getattr(default_storage, "location", None)
    if location is None:
        raise StorageUnreachable(f"cannot list {storage_name()}: only file and S3 storage are supported")
    return os.path.isdir(location)


def list_stored_keys(prefix: str = "") -> Iterator[tuple[str, int]]:
    """Yield ``(key, size in bytes)`` for every object in the default storage under ``prefix``.

    File storage: a recursive walk of its location (keys with ``/``); S3: a paginated
    ``list_objects_v2`` of the bucket (under the storage's ``location``, if any).
    """
    if _is_s3():
        base = default_storage.location.rstrip("/") + "/" if default_storage.location else ""
        paginator = default_storage.connection.meta.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=default_storage.bucket_name, Prefix=base + prefix):
            for entry in page.get("Contents", ()):
                yield entry["Key"][len(base):], entry["Size"]
        return
    root = default_storage.location
    start = os.path.join(root, os.path.dirname(prefix)) if prefix else root
    def fail(error: OSError) -> None:  # os.walk ignores unreadable directories by default
        if not (isinstance(error, FileNotFoundError) and error.filename == start):
            raise error

    for directory, subdirectories, files in os.walk(start, onerror=fail):
        subdirectories.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            key = os.path.relpath(path, root).replace(os.sep, "/")
            if key.startswith(prefix):
                yield key, os.path.getsize(path)


def _recorded_files(prefix: str):
    """Every row that names a stored object: document versions, then finished renditions."""
    from . import models

    yield from (DocumentVersion.objects.select_related("document").filter(storage_key__startswith=prefix)
                .order_by("pk").iterator(chunk_size=1000))
    rendition = getattr(models, "Rendition", None)
    if rendition is not None:
        yield from (rendition.objects.select_related("source__document").exclude(storage_key="")
                    .filter(storage_key__startswith=prefix).order_by("pk").iterator(chunk_size=1000))


def _known_keys(keys: list[str]) -> set[str]:
    from . import models

    known = set(DocumentVersion.objects.filter(storage_key__in=keys).values_list("storage_key", flat=True))
    rendition = getattr(models, "Rendition", None)
    if rendition is not None:
        known |= set(rendition.objects.filter(storage_key__in=keys).values_list("storage_key", flat=True))
    from django.apps import apps

    if apps.is_installed("processes.portal"):  # results of long jobs (a large case's dossier)
        job = apps.get_model("portal", "Job")
        known |= set(job.objects.filter(result_key__in=keys).values_list("result_key", flat=True))
    return known


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a usable storage key prefix, else raise ``ValueError``.

    A prefix is ASCII, printable, relative (no leading ``/``) and has no ``..`` segment,
    e.g. ``TC-2017/`` or ``TC-2017/A1/``.
    """
    if not prefix.isascii() or not prefix.isprintable():
        raise ValueError(f"prefix {prefix!r} must be printable ASCII (storage keys are)")
    if prefix.startswith("/") or ".." in prefix.split("/") or "\\" in prefix:
        raise ValueError(f"prefix {prefix!r} must be a relative key prefix without '..' (e.g. TC-2017/)")
    return prefix


def verify_storage(*, prefix: str = "", batch: int = 1000) -> StorageReport:
    """Check every recorded file against its stored object, then every stored object.

    Recorded files are :class:`DocumentVersion` rows and finished renditions. One whose
    object is absent is *missing*; one whose streamed sha256 or size differs from the
    recorded ones is *corrupted* (also logged to ``kelisim.security``); an object named by no
    row is *orphaned*. Only keys starting with ``prefix`` are considered (``""``: all). A
    file storage directory that does not exist is unreachable once anything is recorded.
    Objects are hashed in 1 MiB chunks, never read whole. Raises ``ValueError`` for a bad
    prefix and :class:`StorageUnreachable` when the storage cannot be reached (before or
    during the walk).
    """
    check_prefix(prefix)
    report = StorageReport(storage=storage_name())
    exists = _probe()
    for record in _recorded_files(prefix):
        report.records_checked += 1
        if not exists:  # a file storage directory that is not there (not mounted?)
            raise StorageUnreachable(f"{storage_name()} does not exist, but {record} is recorded in it")
        try:
            digest, size = stored_digest(record.storage_key)
        except FileNotFoundError:
            report.problems.append(StorageProblem("missing", record.storage_key, record.pk, str(record)))
            continue
        except Exception as exc:
            raise _unreachable(exc) from exc
        if digest != record.sha256 or size != record.size:
            security_log.error(
                "verify_storage: checksum mismatch for %s (%s): recorded sha256 %s size %s, found sha256 %s size %s",
                record, record.storage_key, record.sha256, record.size, digest, size,
            )
            report.problems.append(StorageProblem(
                "corrupted", record.storage_key, record.pk, str(record),
                f"recorded sha256 {record.sha256} size {record.size}, found sha256 {digest} size {size}"))
    if exists:
        pending: list[tuple[str, int]] = []

        def flush() -> None:
            known = _known_keys([key for key, _ in pending])
            report.problems.extend(StorageProblem("orphaned", key, detail=f"{size} bytes")
                                   for key, size in pending if key not in known)
            pending.clear()

        try:
            for key, size in list_stored_keys(prefix):
                report.objects_listed += 1
                pending.append((key, size))
                if len(pending) >= batch:
                    flush()
        except Exception as exc:
            raise _unreachable(exc) from exc
        flush()
    order = {"missing": 0, "corrupted": 1, "orphaned": 2}
    report.problems.sort(key=lambda problem: (order[problem.kind], problem.key))
    return report
