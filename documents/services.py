"""Document services: generate a Word document version and record it in the owner's history."""

from __future__ import annotations

from django.db import transaction

from workflow import audit

from .models import Document, DocumentVersion
from .render import DOCX_CONTENT_TYPE, render_docx, template_version
from django.core.files.storage import default_storage

from .storage import store_version


def generate_document(
    *,
    owner_ref: str,
    stage: str,
    kind: str,
    language: str,
    title: str,
    context: dict,
    actor,
    key: str = "",
) -> DocumentVersion:
    """Render ``kind`` in ``language`` and store it as the next version of that document.

    ``owner_ref`` is the case reference (or round code) whose audit chain records a
    ``document_generated`` entry with the version's sha256. Returns the new
    :class:`DocumentVersion`. Raises ``TemplateMissing`` or ``StorageError``; on error
    nothing is recorded.
    """
    content = render_docx(kind, language, context)
    written: list[str] = []
    try:
        return _record(owner_ref=owner_ref, stage=stage, kind=kind, language=language, title=title,
                       content=content, actor=actor, key=key, written=written)
    except Exception:
        for storage_key in written:  # the row was rolled back: do not leave an orphan object
            default_storage.delete(storage_key)
        raise


def _record(*, owner_ref, stage, kind, language, title, content, actor, key, written) -> DocumentVersion:
    with transaction.atomic():
        document, _ = Document.objects.get_or_create(
            owner_ref=owner_ref, kind=kind, key=key, language=language,
            defaults={"stage": stage, "title": title},
        )
        version = store_version(
            document=document,
            content=content,
            extension="docx",
            content_type=DOCX_CONTENT_TYPE,
            original_name=f"{title}.docx",
            created_by=actor,
            template_name=f"{language}/{kind}.docx",
            template_version=template_version(),
        )
        written.append(version.storage_key)
        audit.append_entry(
            chain=owner_ref, actor=actor, object_type="documents.documentversion",
            object_id=str(version.pk), object_repr=str(version)[:300],
            transition="document_generated", from_state="", to_state="",
            data={"kind": kind, "key": key, "language": language, "number": version.number,
                  "storage_key": version.storage_key, "sha256": version.sha256, "size": version.size},
        )
        return version
