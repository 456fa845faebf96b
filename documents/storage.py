"""Checksummed file storage through Django's storage API.

Every file is written once under a unique ASCII key and recorded with its sha256 and size;
every read recomputes the sha256 and refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from .models import Document, DocumentVersion

security_log = logging.getLogger("kelisim.security")


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


def store_version(
    *,
    document: Document,
    content: bytes,
    extension: str,
    content_type: str,
    original_name: str,
    created_by=None,
    template_name: str = "",
    template_version: str = "",
) -> DocumentVersion:
    """Write ``content`` as the next version of ``document`` and return the version row.

    The file is written first; if recording the row fails, the file is deleted again, so a
    failed step leaves storage as it was. Raises :class:`StorageError` when storage fails.
    """
    with transaction.atomic():
        locked = Document.objects.select_for_update().get(pk=document.pk)
        number = (locked.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        key = storage_key_for(document, number, extension)
        try:
            saved_key = default_storage.save(key, ContentFile(content))
        except Exception as exc:  # storage backends raise many kinds of errors
            raise StorageError(f"could not write {key}: {exc}") from exc
        try:
            return DocumentVersion.objects.create(
                document=document,
                number=number,
                storage_key=saved_key,
                original_name=original_name,
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
                content_type=content_type,
                template_name=template_name,
                template_version=template_version,
                created_by=created_by,
            )
        except Exception:
            default_storage.delete(saved_key)
            raise


def read_verified(version: DocumentVersion) -> bytes:
    """Return the stored bytes of ``version`` after checking their sha256 and size.

    Raises :class:`StorageError` when the object is missing and :class:`ChecksumMismatch`
    (also logged to ``kelisim.security``) when the bytes differ from what was recorded.
    """
    try:
        with default_storage.open(version.storage_key, "rb") as handle:
            content = handle.read()
    except (FileNotFoundError, OSError) as exc:
        raise StorageError(f"{version}: stored object {version.storage_key} is missing") from exc
    digest = hashlib.sha256(content).hexdigest()
    if digest != version.sha256 or len(content) != version.size:
        security_log.error(
            "checksum mismatch for %s (%s): recorded %s, found %s",
            version, version.storage_key, version.sha256, digest,
        )
        raise ChecksumMismatch(
            f"{version}: stored bytes do not match the recorded sha256 "
            f"(recorded {version.sha256[:12]}..., found {digest[:12]}...); the file was changed"
        )
    return content
