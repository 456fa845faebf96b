"""Safe uploads: type by content, size limits, macro and zip-bomb refusal, and storing an attachment.

What is accepted (decided by the bytes, never by the file name):

==========  =========================================================================  ======
kind        how it is recognised                                                        stored
==========  =========================================================================  ======
``pdf``     ``%PDF`` signature (``filetype``)                                           .pdf
``png``     PNG signature (``filetype``)                                                .png
``jpeg``    JPEG SOI marker (``filetype``)                                              .jpg
``docx``    a ZIP whose ``[Content_Types].xml`` declares a WordprocessingML main part   .docx
``xlsx``    a ZIP whose ``[Content_Types].xml`` declares a SpreadsheetML main part      .xlsx
==========  =========================================================================  ======

Refusals raise :class:`UploadRejected` with a ``code``, a human ``message`` and an HTTP
``status``:

``empty`` (400)
    no bytes at all.
``too_large`` (413)
    more than ``settings.KELISIM_UPLOAD_MAX_BYTES`` (default 25 MiB).
``unsupported_type`` (415)
    anything else: other images, plain ZIP archives, PowerPoint, OpenDocument, and every
    legacy OLE2 compound file (``.doc``/``.xls``/``.ppt``, also password-protected OOXML,
    which Office wraps in OLE2). OLE2 files are refused as a whole rather than scanned for
    macros: they cannot be checked without a full OLE parser and may carry VBA.
``macro_enabled`` (415)
    an Office package with macros: a macro-enabled main part (``.docm``/``.xlsm``/``.dotm``/
    ``.xltm``/``.xlsb``), any content type naming macros or VBA, or a ``vbaProject.bin``,
    ``vbaData.xml`` or Excel 4.0 macro sheet part, whatever the file is called.
``archive_suspicious`` (400)
    an OOXML archive that fails the zip-bomb guard (:func:`check_archive`) or whose
    ``[Content_Types].xml`` is oversized, has a DTD, or is not well-formed XML.

Zip-bomb guard: before any member is read, only the ZIP central directory is examined
(``zipfile.ZipFile.infolist``): the number of entries, the total declared uncompressed size
and each entry's compression ratio are bounded (settings ``KELISIM_ARCHIVE_MAX_ENTRIES``,
``KELISIM_ARCHIVE_MAX_UNCOMPRESSED_BYTES``, ``KELISIM_ARCHIVE_MAX_RATIO``). Because declared
sizes can lie, the one member read (``[Content_Types].xml``) is read with a hard byte cap.
Nothing is ever extracted.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import unicodedata
import uuid
import zipfile
from xml.etree import ElementTree

import filetype
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from filetype.types import archive as ft_archive
from filetype.types import image as ft_image

security_log = logging.getLogger("kelisim.security")

MiB = 1024 * 1024

#: Defaults of the settings this module reads (used when a setting is absent).
DEFAULTS = {
    "KELISIM_UPLOAD_MAX_BYTES": 25 * MiB,
    "KELISIM_ARCHIVE_MAX_ENTRIES": 1000,
    "KELISIM_ARCHIVE_MAX_UNCOMPRESSED_BYTES": 100 * MiB,
    "KELISIM_ARCHIVE_MAX_RATIO": 100,
}
#: Entries smaller than this (uncompressed bytes) are not held to the ratio limit: small XML
#: parts of ordinary documents compress very well and cannot be a bomb on their own (the
#: total-size limit bounds them all).
RATIO_EXEMPT_BELOW = 1 * MiB
#: The most bytes read from ``[Content_Types].xml`` (real ones are a few KiB).
CONTENT_TYPES_MAX_BYTES = 256 * 1024
#: How much of the head of a file the signature matchers look at.
HEAD_BYTES = 8192

OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

#: Main-part content types of the OOXML packages accepted: ``content type -> (kind, MIME, ext)``.
OOXML_ACCEPTED = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": (
        "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": (
        "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}
#: Main-part content types of macro-enabled packages (ECMA-376 / [MS-OFFCRYPTO] registry).
OOXML_MACRO_ENABLED = {
    "application/vnd.ms-word.document.macroenabled.main+xml": "docm",
    "application/vnd.ms-word.template.macroenabledtemplate.main+xml": "dotm",
    "application/vnd.ms-excel.sheet.macroenabled.main+xml": "xlsm",
    "application/vnd.ms-excel.template.macroenabled.main+xml": "xltm",
    "application/vnd.ms-excel.sheet.binary.macroenabled.main": "xlsb",
    "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml": "pptm",
}
#: Part names (lower case, last path segment or folder) that carry macros.
MACRO_PART_NAMES = ("vbaproject.bin", "vbadata.xml")
MACRO_PART_FOLDERS = ("/macrosheets/", "/intl-macrosheets/")

CONTENT_TYPES_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"

#: The signature matchers of the binary formats (``filetype``), in the order tried.
_MATCHERS = (ft_archive.Pdf(), ft_image.Png(), ft_image.Jpeg(), ft_archive.Zip())
_SIMPLE = {"application/pdf": ("pdf", "application/pdf", "pdf"),
           "image/png": ("png", "image/png", "png"),
           "image/jpeg": ("jpeg", "image/jpeg", "jpg")}

#: Which extensions of a user's file name already fit each detected kind.
EXTENSIONS_OF = {"pdf": {"pdf"}, "png": {"png"}, "jpeg": {"jpg", "jpeg", "jpe"}, "docx": {"docx"},
                 "xlsx": {"xlsx"}}


def setting(name: str) -> int:
    """The integer setting ``name`` (see :data:`DEFAULTS`)."""
    return int(getattr(settings, name, DEFAULTS[name]))


class UploadRejected(Exception):
    """An upload was refused. ``code`` (stable, see the module docstring), ``message`` (for a
    person), ``status`` (the HTTP status to answer with)."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclasses.dataclass(frozen=True)
class Detected:
    """What an upload is: ``kind`` (``pdf``, ``png``, ``jpeg``, ``docx``, ``xlsx``), its
    ``content_type`` (MIME) and the ``extension`` (no dot) it is stored with."""

    kind: str
    content_type: str
    extension: str


def _size_of(file) -> int:
    size = getattr(file, "size", None)
    if size is None:
        position = file.tell()
        size = file.seek(0, os.SEEK_END)
        file.seek(position)
    return int(size)


def _as_file(file):
    return io.BytesIO(file) if isinstance(file, (bytes, bytearray, memoryview)) else file


def _grouped(number: int) -> str:
    """``number`` with the active language's thousand separator (``1,234`` in English)."""
    return number_format(number, force_grouping=True)


def inspect_upload(file, *, name: str = "") -> Detected:
    """Decide what ``file`` is from its bytes and refuse what is not accepted.

    ``file`` is ``bytes`` or a seekable binary file (e.g. a Django ``UploadedFile``); it is
    read from the start and left at position 0. ``name`` (the user's file name) is used in
    messages only: the extension never decides the type. Returns :class:`Detected`; raises
    :class:`UploadRejected` (codes in the module docstring).
    """
    file = _as_file(file)
    # Translators: the subject of the sentences below, e.g. "“report.docx” is empty (0 bytes)."
    label = _("“%(name)s”") % {"name": name} if name else _("The file")
    size = _size_of(file)
    if size == 0:
        raise UploadRejected("empty", _("%(label)s is empty (0 bytes).") % {"label": label}, 400)
    limit = setting("KELISIM_UPLOAD_MAX_BYTES")
    if size > limit:
        raise UploadRejected("too_large", _("%(label)s has %(size)s bytes; at most %(limit)s bytes (%(mib)s MiB) "
                                            "are accepted.") % {"label": label, "size": _grouped(size),
                                                                "limit": _grouped(limit), "mib": f"{limit / MiB:.0f}"},
                             413)
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    if head.startswith(OLE2_SIGNATURE):
        raise UploadRejected("unsupported_type", _(
            "%(label)s is a legacy Office (OLE2) file such as .doc or .xls, or a password-protected Office file; "
            "these are not accepted. Save it as .docx, .xlsx or PDF without a password and upload it again.")
            % {"label": label}, 415)
    match = filetype.match(head, matchers=_MATCHERS)
    if match is None:
        raise UploadRejected("unsupported_type", _(
            "%(label)s is not a PDF, PNG, JPEG, Word (.docx) or Excel (.xlsx) file (judged by its content, "
            "not its name).") % {"label": label}, 415)
    if match.mime in _SIMPLE:
        return Detected(*_SIMPLE[match.mime])
    try:
        return _inspect_ooxml(file, label)
    finally:
        file.seek(0)


def check_archive(archive: zipfile.ZipFile, *, max_entries: int | None = None, max_total: int | None = None,
                  max_ratio: int | None = None, label: str | None = None) -> None:
    """Refuse a ZIP whose central directory looks like a zip bomb, reading no member.

    Limits default to the settings ``KELISIM_ARCHIVE_MAX_ENTRIES`` (entries),
    ``KELISIM_ARCHIVE_MAX_UNCOMPRESSED_BYTES`` (sum of declared uncompressed sizes, bytes)
    and ``KELISIM_ARCHIVE_MAX_RATIO`` (uncompressed / compressed per entry of at least
    :data:`RATIO_EXEMPT_BELOW` bytes). Raises :class:`UploadRejected` (``archive_suspicious``).
    """
    max_entries = setting("KELISIM_ARCHIVE_MAX_ENTRIES") if max_entries is None else max_entries
    max_total = setting("KELISIM_ARCHIVE_MAX_UNCOMPRESSED_BYTES") if max_total is None else max_total
    max_ratio = setting("KELISIM_ARCHIVE_MAX_RATIO") if max_ratio is None else max_ratio
    label = _("The archive") if label is None else label
    entries = archive.infolist()
    if len(entries) > max_entries:
        raise UploadRejected("archive_suspicious", _("%(label)s holds %(count)s entries; at most %(limit)s are "
                                                     "accepted.") % {"label": label, "count": _grouped(len(entries)),
                                                                     "limit": _grouped(max_entries)}, 400)
    total = 0
    for info in entries:
        total += info.file_size
        if total > max_total:
            raise UploadRejected("archive_suspicious", _(
                "%(label)s declares more than %(limit)s bytes uncompressed (at most %(mib)s MiB are accepted); "
                "it was refused without being expanded.") % {"label": label, "limit": _grouped(max_total),
                                                              "mib": f"{max_total / MiB:.0f}"}, 400)
        if info.file_size >= RATIO_EXEMPT_BELOW and info.file_size > max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise UploadRejected("archive_suspicious", _(
                "%(label)s: entry %(entry)s expands %(ratio)s times (at most %(limit)s is accepted); it was "
                "refused without being expanded.") % {"label": label, "entry": repr(info.filename),
                                                      "ratio": _grouped(round(ratio)), "limit": max_ratio}, 400)


def read_member(archive: zipfile.ZipFile, name: str, *, cap: int) -> bytes:
    """Read member ``name`` of ``archive``, at most ``cap`` bytes whatever its declared size.

    Raises ``KeyError`` (no such member), :class:`UploadRejected` (``archive_suspicious``:
    longer than ``cap``) or ``zipfile.BadZipFile`` (damaged member, CRC mismatch).
    """
    with archive.open(name) as member:
        data = member.read(cap + 1)
    if len(data) > cap:
        raise UploadRejected("archive_suspicious", _("%(name)s is longer than %(cap)s bytes.") % {
            "name": name, "cap": _grouped(cap)}, 400)
    return data


def _inspect_ooxml(file, label: str) -> Detected:
    try:
        archive = zipfile.ZipFile(file)  # reads the central directory only
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        # the library's own text ("File is not a zip file") is English: kept in the chained exception only
        raise UploadRejected("unsupported_type", _("%(label)s looks like a ZIP archive but is damaged.")
                             % {"label": label}, 415) from exc
    with archive:
        check_archive(archive, label=label)
        names = {info.filename.replace("\\", "/").lower(): info.filename for info in archive.infolist()}
        if "[content_types].xml" not in names:
            raise UploadRejected("unsupported_type", _(
                "%(label)s is a ZIP archive, not a Word (.docx) or Excel (.xlsx) document; archives are not "
                "accepted.") % {"label": label}, 415)
        for lowered in names:
            base = lowered.rsplit("/", 1)[-1]
            if base in MACRO_PART_NAMES or any(folder in "/" + lowered for folder in MACRO_PART_FOLDERS):
                raise UploadRejected("macro_enabled", _(
                    "%(label)s contains macros (%(part)s); macro-enabled Office files are not accepted. Save it "
                    "as a plain .docx or .xlsx and upload it again.") % {"label": label, "part": names[lowered]},
                    415)
        try:
            raw = read_member(archive, names["[content_types].xml"], cap=CONTENT_TYPES_MAX_BYTES)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise UploadRejected("archive_suspicious", _("%(label)s: [Content_Types].xml cannot be read; the "
                                                         "document is damaged.") % {"label": label},
                                 400) from exc
        content_types = _parse_content_types(raw, label)
        for part, content_type in content_types:
            lowered = content_type.lower()
            if "macro" in lowered or "vba" in lowered:
                flavour = OOXML_MACRO_ENABLED.get(lowered)
                what = (_("a macro-enabled .%(kind)s file") % {"kind": flavour} if flavour
                        else _("a macro part (%(type)s)") % {"type": content_type})
                raise UploadRejected("macro_enabled", _(
                    "%(label)s is %(what)s, whatever its name says; macro-enabled Office files are not accepted. "
                    "Save it as a plain .docx or .xlsx and upload it again.") % {"label": label, "what": what}, 415)
        mains = [(part, OOXML_ACCEPTED[ct.lower()]) for part, ct in content_types if ct.lower() in OOXML_ACCEPTED]
        if len(mains) != 1:
            raise UploadRejected("unsupported_type", _(
                "%(label)s is an Office package that is neither a Word (.docx) document nor an Excel (.xlsx) "
                "workbook.") % {"label": label}, 415)
        part, accepted = mains[0]
        if part and part.lstrip("/").lower() not in names:
            raise UploadRejected("unsupported_type", _("%(label)s: its main part %(part)s is missing; the document "
                                                       "is damaged.") % {"label": label, "part": part}, 415)
        return Detected(*accepted)


def _parse_content_types(raw: bytes, label: str) -> list[tuple[str, str]]:
    """``[(part name or "" for a Default, content type)]`` of a ``[Content_Types].xml``."""
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise UploadRejected("archive_suspicious", _("%(label)s: [Content_Types].xml declares a DTD or entities, "
                                                     "which Office never writes.") % {"label": label}, 400)
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        line, column = getattr(exc, "position", ("?", "?"))
        raise UploadRejected("archive_suspicious", _("%(label)s: [Content_Types].xml is not well-formed XML "
                                                     "(line %(line)s, column %(column)s).") % {
                                 "label": label, "line": line, "column": column}, 400) from exc
    found = []
    for element in root:
        if element.tag == CONTENT_TYPES_NS + "Override":
            found.append((element.get("PartName", ""), element.get("ContentType", "")))
        elif element.tag == CONTENT_TYPES_NS + "Default":
            found.append(("", element.get("ContentType", "")))
    return found


# -- names -------------------------------------------------------------------------------------

#: The longest original name kept (characters; ``DocumentVersion.original_name``).
MAX_NAME = 255


def clean_name(name: str, detected: Detected) -> str:
    """The name a stored upload is downloaded under: the user's name in any script, NFC,
    without folders or control characters, at most :data:`MAX_NAME` characters.

    When its extension does not fit the detected type, the detected extension is appended
    (a PNG sent as ``scan.pdf`` is kept as ``scan.pdf.png``), so that the download opens in
    the right program. An empty name becomes ``attachment.<ext>``.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    stem, dot, ext = name.rpartition(".")
    if not name:
        name = f"attachment.{detected.extension}"
    elif not dot or ext.lower() not in EXTENSIONS_OF.get(detected.kind, {detected.extension}):
        name = f"{name}.{detected.extension}"
    if len(name) > MAX_NAME:
        keep_ext = "." + name.rpartition(".")[2]
        name = name[: MAX_NAME - len(keep_ext)] + keep_ext
    return name


# -- storing an attachment ---------------------------------------------------------------------

#: ``Document.kind`` of uploaded files.
ATTACHMENT_KIND = "attachment"


def _content_for_storage(file):
    """What ``store_version`` is given: a Django ``File`` (an ``UploadedFile`` as it is), so the
    upload is hashed and written in chunks, never held in memory whole."""
    from django.core.files.base import File

    file.seek(0)
    return file if hasattr(file, "chunks") else File(file, name="upload")


def store_upload(*, owner_ref: str, stage: str, language: str, file, name: str, actor):
    """Inspect ``file`` and store it as a new attachment of ``owner_ref`` (a case reference).

    Creates a :class:`~documents.models.Document` (``kind="attachment"``, a fresh ``key``,
    ``title`` = the name as sent) with one version (storage key with the detected extension,
    detected content type, ``original_name`` = :func:`clean_name`) and appends an
    ``attachment_uploaded`` entry (name, sha256, size, content type, storage key) to the
    owner's audit chain, all in one transaction. Returns the ``DocumentVersion``.
    Raises :class:`UploadRejected` (nothing stored) or ``documents.storage.StorageError``
    (nothing recorded; a written object is removed again).
    """
    from workflow import audit

    from .models import Document
    from .storage import store_version

    file = _as_file(file)
    detected = inspect_upload(file, name=name)
    download_name = clean_name(name, detected)
    title = (unicodedata.normalize("NFC", name or "").strip() or download_name)[:300]
    written: list[str] = []
    try:
        with transaction.atomic():
            document = Document.objects.create(
                owner_ref=owner_ref, stage=stage, kind=ATTACHMENT_KIND, key=uuid.uuid4().hex[:16],
                language=language, title=title)
            version = store_version(
                document=document, content=_content_for_storage(file), extension=detected.extension,
                content_type=detected.content_type, original_name=download_name, created_by=actor)
            written.append(version.storage_key)
            audit.append_entry(
                chain=owner_ref, actor=actor, object_type="documents.documentversion",
                object_id=str(version.pk), object_repr=str(version)[:300],
                transition="attachment_uploaded", from_state="", to_state="",
                data={"name": download_name, "kind": detected.kind, "content_type": detected.content_type,
                      "sha256": version.sha256, "size": version.size, "storage_key": version.storage_key,
                      "stage": stage})
            return version
    except Exception:
        for key in written:  # the rows were rolled back: do not leave an orphan object
            default_storage.delete(key)
        raise
