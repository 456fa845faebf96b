"""PDF renditions of Word document versions, made by LibreOffice headless (docs/pdf.md).

Two layers:

* :func:`convert_docx_to_pdf` / :func:`convert_files` run ``soffice --headless --convert-to
  pdf`` in a throw-away directory with a throw-away LibreOffice profile (so conversions
  running at the same time never share one), under a time limit, and raise
  :class:`PdfConversionError` with a reason a person can act on.
* :func:`request_pdf` records a pending :class:`~documents.models.Rendition` of a ``.docx``
  version and queues ``documents.jobs.convert_to_pdf`` after commit; :func:`run_rendition`
  (the job's body) converts it and stores the PDF with its sha256, or records why it failed.
  The ``.docx`` version is only read, never changed.

LibreOffice is the Debian package ``libreoffice-writer-nogui`` (``.ci/run`` installs it);
``KELISIM_SOFFICE`` names another program, ``KELISIM_PDF_TIMEOUT`` (seconds) bounds one run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import zipfile
import zlib
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from .models import DocumentVersion, Rendition
from .render import DOCX_CONTENT_TYPE

log = logging.getLogger("kelisim.documents.pdf")

PDF_MAGIC = b"%PDF-"
# Force LibreOffice's Word 2007+ import filter: without it, a file it cannot read as .docx
# is silently imported as plain text and "converted" into a PDF of garbage.
DOCX_IMPORT_FILTER = "MS Word 2007 XML"
# The Celery task's limits, in seconds beyond KELISIM_PDF_TIMEOUT: the soft limit leaves the
# task time to record a failure after soffice was stopped; the hard limit kills the worker
# process; a claim older than the hard limit belongs to a dead run (see run_rendition).
SOFT_LIMIT_MARGIN = 30
HARD_LIMIT_MARGIN = 60
# The largest unpacked word/document.xml accepted (bytes); far above any real document.
MAX_DOCUMENT_XML = 200 * 1024 * 1024


class PdfConversionError(Exception):
    """A conversion failed; ``reason`` says why in words for the person who asked."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotConvertible(ValueError):
    """The version cannot be converted to PDF (it is not a Word .docx file)."""


def soft_time_limit() -> float:
    """The Celery soft time limit of the conversion task, in seconds."""
    return settings.KELISIM_PDF_TIMEOUT + SOFT_LIMIT_MARGIN


def hard_time_limit() -> float:
    """The Celery hard time limit of the conversion task, in seconds."""
    return settings.KELISIM_PDF_TIMEOUT + HARD_LIMIT_MARGIN


# -- LibreOffice ---------------------------------------------------------------------------------


def soffice_path() -> str | None:
    """The LibreOffice program to run (``settings.KELISIM_SOFFICE`` found on ``PATH`` or as a
    path), or ``None`` when it is not installed."""
    return shutil.which(settings.KELISIM_SOFFICE)


def _tail(text: bytes, limit: int = 500) -> str:
    """The last ``limit`` characters of a process's output, decoded, on one line."""
    decoded = text.decode("utf-8", "replace").strip()
    decoded = " | ".join(line.strip() for line in decoded.splitlines() if line.strip())
    return decoded if len(decoded) <= limit else "..." + decoded[-limit:]


def _kill_group(process: subprocess.Popen) -> None:
    """Kill ``process`` and every process it started (its own session / process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(process: subprocess.Popen) -> None:
    """Kill ``process``'s group and collect it; a pipe held open by a process that left the
    group does not block us for more than a few seconds."""
    _kill_group(process)
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def convert_files(inputs: list[Path], outdir: Path, *, timeout: float) -> dict[Path, Path]:
    """Convert the ``.docx`` files ``inputs`` to PDF with ONE LibreOffice run.

    Returns ``{input path: PDF path in outdir}`` (``outdir/<input stem>.pdf``; input stems
    must differ). ``timeout`` is in seconds for the whole run. LibreOffice runs in its own
    process group with a throw-away profile under a temporary directory; on timeout or any
    interruption (e.g. Celery's soft time limit) the whole group is killed. Raises
    :class:`PdfConversionError` when LibreOffice is not installed, times out, exits with a
    non-zero code, produces no PDF for an input, or produces something that is not a PDF.
    """
    binary = soffice_path()
    if binary is None:
        raise PdfConversionError(
            f"LibreOffice is not installed: {settings.KELISIM_SOFFICE!r} was not found "
            "(install the Debian package libreoffice-writer-nogui or set KELISIM_SOFFICE)")
    stems = [path.stem for path in inputs]
    if len(set(stems)) != len(stems):
        raise ValueError("input file names must differ in their stem")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kelisim-soffice-") as scratch:
        profile = Path(scratch) / "profile"
        command = [binary, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                   "--nologo", "--nodefault", "--nolockcheck", f"--infilter={DOCX_IMPORT_FILTER}",
                   "--convert-to", "pdf", "--outdir", str(outdir), *(str(p) for p in inputs)]
        env = {**os.environ, "HOME": scratch}  # nothing written to the worker's own home
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, cwd=scratch, env=env, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _reap(process)
            raise PdfConversionError(f"LibreOffice timed out after {timeout:g} s and was stopped") from None
        except BaseException:  # e.g. SoftTimeLimitExceeded or KeyboardInterrupt: leave nothing running
            _reap(process)
            raise
        finally:
            _kill_group(process)  # helpers soffice may have left behind
    if process.returncode != 0:
        raise PdfConversionError(f"LibreOffice exited with code {process.returncode}: "
                                 f"{_tail(stderr) or _tail(stdout) or 'no message'}")
    results: dict[Path, Path] = {}
    for path in inputs:
        pdf = outdir / f"{path.stem}.pdf"
        if not pdf.is_file():
            message = _tail(stderr + b"\n" + stdout)
            raise PdfConversionError(f"LibreOffice produced no PDF for {path.name}"
                                     + (f": {message}" if message else ""))
        with pdf.open("rb") as handle:
            if handle.read(len(PDF_MAGIC)) != PDF_MAGIC:
                raise PdfConversionError(f"LibreOffice's output for {path.name} is not a PDF")
        results[path] = pdf
    return results


def check_docx(data: bytes) -> None:
    """Raise :class:`PdfConversionError` unless ``data`` looks like a Word .docx file: a zip
    archive whose ``word/document.xml`` is well-formed XML of at most
    :data:`MAX_DOCUMENT_XML` bytes. (LibreOffice turns a malformed body into an empty PDF
    without complaint.)"""
    from lxml import etree

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            try:
                info = archive.getinfo("word/document.xml")
            except KeyError:
                raise PdfConversionError("the file is not a Word .docx document (no word/document.xml)") from None
            if info.file_size > MAX_DOCUMENT_XML:
                raise PdfConversionError(f"the document body is too large ({info.file_size} bytes unpacked, "
                                         f"at most {MAX_DOCUMENT_XML})")
            body = archive.read(info)
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError):
        raise PdfConversionError("the file is not a Word .docx document (not a readable zip archive)") from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise PdfConversionError(f"the .docx file is damaged: word/document.xml is not well-formed ({exc})") from None


def convert_docx_to_pdf(data: bytes, *, timeout: float) -> bytes:
    """Convert one ``.docx`` (its bytes) to PDF and return the PDF's bytes.

    ``timeout`` is in seconds. Raises :class:`PdfConversionError` (see :func:`convert_files`)
    and when ``data`` is not a ``.docx`` file.
    """
    check_docx(data)
    with tempfile.TemporaryDirectory(prefix="kelisim-pdf-") as work:
        source = Path(work) / "document.docx"
        source.write_bytes(data)
        pdf = convert_files([source], Path(work) / "out", timeout=timeout)[source]
        return pdf.read_bytes()


# -- renditions ------------------------------------------------------------------------------------


def request_pdf(*, version: DocumentVersion, user) -> Rendition:
    """Ask for a PDF of ``version``; return its :class:`Rendition` (one per version).

    A new, failed or pending rendition, or one whose worker died (a claim older than the
    task's hard time limit), becomes ``pending`` and ``documents.jobs.convert_to_pdf`` is
    queued when the current transaction commits; the job is idempotent, so queueing twice is
    harmless. In embedded mode Celery is eager: the job runs at the commit, in this process,
    and the returned row already shows the outcome. A done rendition, or one a worker is
    converting, is returned as it is. The caller checks that ``user`` may ask. Raises
    :class:`NotConvertible` when ``version`` is not a Word ``.docx`` file.
    """
    from .jobs import convert_to_pdf

    if version.content_type != DOCX_CONTENT_TYPE:
        raise NotConvertible(f"{version} is {version.content_type or 'of unknown type'}; "
                             "only Word .docx versions can be converted to PDF")
    with transaction.atomic():
        rendition, created = Rendition.objects.get_or_create(
            source=version, format=Rendition.Format.PDF, defaults={"requested_by": user})
        rendition = Rendition.objects.select_for_update().get(pk=rendition.pk)
        if rendition.status == Rendition.Status.DONE or (
                rendition.status == Rendition.Status.RUNNING and not _stale(rendition, timezone.now())):
            return rendition
        if rendition.status != Rendition.Status.PENDING:
            rendition.status = Rendition.Status.PENDING
            rendition.requested_by = user
            rendition.save(update_fields=["status", "requested_by"])
        rendition_id = rendition.pk
        transaction.on_commit(lambda: convert_to_pdf.delay(rendition_id))
    log.info("PDF of %s requested by %s (rendition %s)", version, user, rendition_id)
    rendition.refresh_from_db()  # an eager job (embedded mode) has run at the commit
    return rendition


def _stale(rendition: Rendition, now: dt.datetime) -> bool:
    """True when a running claim is older than the task's hard time limit: its run is dead."""
    started = rendition.started_at
    return started is None or now - started > dt.timedelta(seconds=hard_time_limit())


def run_rendition(rendition_id: int, *, now: dt.datetime | None = None) -> Rendition:
    """Make the file of rendition ``rendition_id`` (the body of ``convert_to_pdf``); return it.

    Idempotent: a done rendition is returned untouched; a rendition another run claimed less
    than the hard time limit ago is left to that run. Otherwise this run claims it (row lock,
    ``running``, ``attempts`` + 1), reads the source with its checksum verified, converts it
    outside any transaction, and then, only if its claim still stands, stores the PDF
    (``sha256``, ``size``) and appends ``pdf_rendered`` to the owner's audit chain; a run whose
    claim was taken over deletes its file, so one rendition never gets two PDFs. Any failure
    (storage, LibreOffice, the task's soft time limit) sets ``failed`` with the reason and a
    ``kelisim.documents.pdf`` warning; the source version is never written. Raises
    ``Rendition.DoesNotExist`` for an unknown id.
    """
    from .storage import StorageError, read_verified

    now = now or timezone.now()
    with transaction.atomic():
        rendition = Rendition.objects.select_for_update().select_related("source__document").get(pk=rendition_id)
        if rendition.status == Rendition.Status.DONE:
            return rendition
        if rendition.status == Rendition.Status.RUNNING and not _stale(rendition, now):
            log.info("%s is being converted by another run since %s; not starting a second one",
                     rendition, rendition.started_at)
            return rendition
        rendition.status = Rendition.Status.RUNNING
        rendition.started_at = now
        rendition.finished_at = None
        rendition.attempts += 1
        rendition.error = ""
        rendition.save(update_fields=["status", "started_at", "finished_at", "attempts", "error"])
    claim = rendition.attempts
    try:
        data = read_verified(rendition.source)
        pdf = convert_docx_to_pdf(data, timeout=settings.KELISIM_PDF_TIMEOUT)
    except PdfConversionError as exc:
        return _fail(rendition, claim, exc.reason)
    except StorageError as exc:
        return _fail(rendition, claim, f"the source could not be read: {exc}")
    except SoftTimeLimitExceeded:
        return _fail(rendition, claim, f"the conversion task exceeded its time limit of {soft_time_limit():g} s")
    except Exception as exc:
        _fail(rendition, claim, f"unexpected error: {type(exc).__name__}: {exc}")
        raise
    return _store(rendition, claim, pdf)


def _storage_key(rendition: Rendition) -> str:
    from .storage import storage_key_for

    source = rendition.source
    return storage_key_for(source.document, source.number, rendition.format)


def _store(rendition: Rendition, claim: int, pdf: bytes) -> Rendition:
    from workflow import audit

    try:
        key = default_storage.save(_storage_key(rendition), ContentFile(pdf))
    except Exception as exc:  # storage backends raise many kinds of errors
        return _fail(rendition, claim, f"the PDF could not be stored: {exc}")
    try:
        with transaction.atomic():
            current = Rendition.objects.select_for_update().get(pk=rendition.pk)
            if current.status != Rendition.Status.RUNNING or current.attempts != claim:
                log.warning("%s was taken over by another run (attempt %s); discarding attempt %s's PDF",
                            current, current.attempts, claim)
                default_storage.delete(key)
                return current
            current.status = Rendition.Status.DONE
            current.finished_at = timezone.now()
            current.storage_key = key
            current.sha256 = hashlib.sha256(pdf).hexdigest()
            current.size = len(pdf)
            current.save(update_fields=["status", "finished_at", "storage_key", "sha256", "size"])
            source = rendition.source
            audit.append_entry(
                chain=source.document.owner_ref, actor=current.requested_by,
                object_type="documents.rendition", object_id=str(current.pk), object_repr=str(current)[:300],
                transition="pdf_rendered", from_state="", to_state="",
                data={"source_version": source.pk, "number": source.number, "source_sha256": source.sha256,
                      "format": current.format, "storage_key": key, "sha256": current.sha256,
                      "size": current.size},
            )
    except BaseException:
        default_storage.delete(key)
        raise
    log.info("%s done: %s (%s bytes, sha256 %s)", current, key, current.size, current.sha256)
    return current


def _fail(rendition: Rendition, claim: int, reason: str) -> Rendition:
    with transaction.atomic():
        current = Rendition.objects.select_for_update().get(pk=rendition.pk)
        if current.status == Rendition.Status.RUNNING and current.attempts == claim:
            current.status = Rendition.Status.FAILED
            current.error = reason
            current.finished_at = timezone.now()
            current.save(update_fields=["status", "error", "finished_at"])
    log.warning("PDF of %s failed (attempt %s): %s", rendition.source, claim, reason)
    return current
