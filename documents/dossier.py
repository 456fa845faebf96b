"""The case dossier for auditors: one ZIP with a case's documents, its audit trail and a manifest.

Layout of ``dossier-<case>-<date>.zip`` (format ``kelisim-dossier/1``)::

    documents/<stage>/<original name>   the current version of every document of the case (a
                                        name taken twice gets the document's key, e.g. the expert,
                                        or " (2)")
    audit/entries.json                  every entry of the case's audit chain (with its
                                        canonical text, hash and previous hash)
    audit/entries.csv                   the same entries as a table (UTF-8 with BOM, for Excel)
    manifest.json                       sha256 and size of every other file, the case, the time
                                        of generation, the Kelisim version, the chain head

:func:`build_dossier` writes it; every document is read through
:func:`documents.storage.iter_verified_chunks`, so a stored file that no longer matches its
recorded sha256 makes the build fail (``ChecksumMismatch``) instead of shipping wrong bytes.
:func:`verify_dossier` (``python manage.py verify_dossier FILE``) checks a dossier against
its manifest and the audit entries' hash chain against the manifest's head hash.

The manifest is not signed: it proves that the files agree with each other and with the
chain head it names. To prove that the dossier is what Kelisim holds, compare the head hash
(and the documents' sha256) with the live installation (``verify_dossier --database``).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import unicodedata
import zipfile
from pathlib import Path

from django.utils import timezone
from django.utils.translation import gettext as _

from .storage import ascii_slug, iter_verified_chunks
from .uploads import UploadRejected, check_archive

FORMAT = "kelisim-dossier/1"
MANIFEST = "manifest.json"
ENTRIES_JSON = "audit/entries.json"
ENTRIES_CSV = "audit/entries.csv"
GENESIS_HASH = "0" * 64
#: The columns of ``audit/entries.csv``.
CSV_COLUMNS = ("seq", "created_at", "actor", "on_behalf_of", "transition", "from_state", "to_state",
               "object_type", "object_id", "object_repr", "comment", "hash", "prev_hash")
#: Zip-bomb guard used before reading a dossier: entries, total uncompressed bytes, ratio.
VERIFY_MAX_ENTRIES = 100_000
VERIFY_MAX_BYTES = 16 * 1024 ** 3
VERIFY_MAX_RATIO = 200
#: The largest manifest read (bytes).
MANIFEST_MAX_BYTES = 64 * 1024 * 1024
READ_CHUNK = 1024 * 1024


class DossierError(Exception):
    """A dossier cannot be built or read (not a ZIP, no manifest, a guard tripped)."""


def kelisim_version() -> str:
    """The installed Kelisim version (package metadata), or ``unknown``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kelisim")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def dossier_filename(case, day: dt.date) -> str:
    """``dossier-<case ref as ASCII>-<YYYY-MM-DD>.zip``, e.g. ``dossier-TC-2017-A1-2026-11-29.zip``."""
    return f"dossier-{ascii_slug(case.ref.replace('/', '-'))}-{day.isoformat()}.zip"


# Characters Windows refuses in a file name, and its reserved device names (with or without an
# extension): an auditor extracting the dossier with Explorer or 7-Zip must get every member.
# Source: Microsoft, "Naming Files, Paths, and Namespaces" (Win32 file naming conventions).
_WINDOWS_FORBIDDEN = str.maketrans({ch: "_" for ch in '<>:"|?*'})
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)),
                     *(f"LPT{n}" for n in range(1, 10))}


def _safe_member_name(name: str) -> str:
    """A portable file name for a ZIP member, or "" when nothing usable is left.

    NFC; no folders; no control characters; the characters ``<>:"|?*`` become ``_``; no
    leading dots, no trailing dots or spaces; a Windows device name (``CON``, ``com1.pdf``)
    gets a ``_`` prefix; at most 200 characters. The manifest keeps the original name.
    """
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").translate(_WINDOWS_FORBIDDEN)
    name = name.strip().lstrip(".")[:200].rstrip(" .")
    if name.split(".", 1)[0].strip().upper() in _WINDOWS_RESERVED:
        name = "_" + name
    return name


def _unique(path: str, taken: set[str]) -> str:
    if path.lower() not in taken:
        taken.add(path.lower())
        return path
    stem, dot, ext = path.rpartition(".")
    if not dot or "/" in ext:
        stem, ext = path, ""
    n = 2
    while True:
        candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        if candidate.lower() not in taken:
            taken.add(candidate.lower())
            return candidate
        n += 1


def _entry_record(entry) -> dict:
    return {
        "seq": entry.seq,
        "created_at": entry.created_at.astimezone(dt.timezone.utc).isoformat(),
        "actor": entry.actor_username,
        "on_behalf_of": entry.on_behalf_of_username,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_repr": entry.object_repr,
        "transition": entry.transition,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "comment": entry.comment,
        "data": entry.data,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "canonical": entry.canonical,
    }


def _zip_info(path: str, when: dt.datetime | None) -> zipfile.ZipInfo:
    when = (when or timezone.now()).astimezone(dt.timezone.utc)
    info = zipfile.ZipInfo(path, date_time=(max(when.year, 1980), when.month, when.day, when.hour, when.minute,
                                            when.second))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def build_dossier(case, *, stream, generated_by=None, now: dt.datetime | None = None, progress=None) -> dict:
    """Write the dossier of ``case`` (a ``Case``: ``ref`` names its documents' ``owner_ref`` and
    its audit chain) as a ZIP into the binary ``stream``; return the manifest (a dict).

    The audit chain is read up to the head recorded when the build starts, so entries
    appended meanwhile are left out consistently. ``progress(done, total)``, when given, is
    called after each document (``total`` documents in all; used by the dossier job of
    ``processes.portal.jobs``). Raises ``documents.storage.ChecksumMismatch``
    (a stored document was changed) or ``StorageError`` (missing, unreadable); the stream then
    holds a partial ZIP that must be discarded.
    """
    from workflow.models import AuditChain, AuditEntry

    from .models import Document, DocumentVersion

    now = now or timezone.now()
    chain = getattr(case, "audit_chain", case.ref)
    head = AuditChain.objects.filter(key=chain).values("length", "head_hash").first() or {
        "length": 0, "head_hash": GENESIS_HASH}
    files: list[dict] = []
    taken: set[str] = {MANIFEST.lower(), ENTRIES_JSON.lower(), ENTRIES_CSV.lower()}
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        documents = list(Document.objects.filter(owner_ref=case.ref).order_by("stage", "kind", "key", "language",
                                                                                "pk"))
        for done, document in enumerate(documents, 1):
            if progress is not None and done > 1:
                progress(done - 1, len(documents))
            version = (DocumentVersion.objects.filter(document=document).select_related("document")
                       .order_by("-number").first())
            if version is None:
                continue
            extension = version.storage_key.rpartition(".")[2] if "." in version.storage_key else "bin"
            name = _safe_member_name(version.original_name) or (
                f"{ascii_slug(document.kind)}-{document.language}-v{version.number}.{extension}")
            folder = f"documents/{ascii_slug(document.stage)}/"
            if (folder + name).lower() in taken and document.key and document.kind != "attachment":
                stem, dot, ext = name.rpartition(".")  # e.g. one score sheet per expert: name the expert
                keyed = _safe_member_name(document.key)
                name = f"{stem} [{keyed}].{ext}" if dot else f"{name} [{keyed}]"
            path = _unique(folder + name, taken)
            digest, size = hashlib.sha256(), 0
            with archive.open(_zip_info(path, version.created_at), "w", force_zip64=version.size > 2 ** 31) as out:
                for chunk in iter_verified_chunks(version):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            files.append({"path": path, "sha256": digest.hexdigest(), "size": size, "document": {
                "kind": document.kind, "key": document.key, "language": document.language,
                "stage": document.stage, "title": document.title, "version": version.number,
                "original_name": version.original_name, "content_type": version.content_type,
                "signed": version.signed, "recorded_sha256": version.sha256,
                "created_at": version.created_at.astimezone(dt.timezone.utc).isoformat(),
                "created_by": version.created_by.get_username() if version.created_by_id else ""}})
        if progress is not None and documents:
            progress(len(documents), len(documents))

        entries = [_entry_record(e) for e in
                   AuditEntry.objects.filter(chain=chain, seq__lte=head["length"]).order_by("seq").iterator()]
        entries_json = json.dumps(entries, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
        text = io.StringIO(newline="")
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for entry in entries:
            writer.writerow([entry[c] for c in CSV_COLUMNS])
        entries_csv = text.getvalue().encode("utf-8-sig")
        for path, content in ((ENTRIES_JSON, entries_json), (ENTRIES_CSV, entries_csv)):
            archive.writestr(_zip_info(path, now), content)
            files.append({"path": path, "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)})

        manifest = {
            "format": FORMAT,
            "case": {"ref": case.ref, "number": getattr(case, "number", ""),
                     "round": getattr(getattr(case, "round", None), "code", ""),
                     "state": getattr(case, "state", ""),
                     "name": case.name() if callable(getattr(case, "name", None)) else ""},
            "generated_at": now.astimezone(dt.timezone.utc).isoformat(),
            "generated_by": generated_by.get_username() if generated_by is not None else "",
            "kelisim_version": kelisim_version(),
            "audit": {"chain": chain, "entries": len(entries), "head_hash": head["head_hash"]},
            "files": files,
        }
        archive.writestr(_zip_info(MANIFEST, now),
                         json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    return manifest


# -- verification --------------------------------------------------------------------------------

@dataclasses.dataclass
class Report:
    """Outcome of :func:`verify_dossier`: the manifest, files checked, and every problem found
    (``(kind, path, detail)``; kinds: ``changed``, ``missing``, ``extra``, ``damaged``,
    ``audit``)."""

    manifest: dict
    checked: int = 0
    bytes: int = 0
    entries: int = 0
    problems: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int,
                 keep: bool = False) -> tuple[str, int, bytes | None]:
    """``(sha256, size, content or None)`` of a member, reading at most ``cap + 1`` bytes
    (the content is kept when ``keep`` and it is at most :data:`MANIFEST_MAX_BYTES`)."""
    digest, size, kept = hashlib.sha256(), 0, []
    with archive.open(info) as member:
        while size <= cap:
            chunk = member.read(min(READ_CHUNK, cap + 1 - size))
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if keep and size <= MANIFEST_MAX_BYTES:
                kept.append(chunk)
    return digest.hexdigest(), size, b"".join(kept) if keep and size <= MANIFEST_MAX_BYTES else None


def verify_dossier(path, *, max_entries: int = VERIFY_MAX_ENTRIES, max_bytes: int = VERIFY_MAX_BYTES,
                   max_ratio: int = VERIFY_MAX_RATIO) -> Report:
    """Check the dossier at ``path`` (a file path) and return a :class:`Report`.

    Before reading any member the ZIP's central directory passes the zip-bomb guard
    (:func:`documents.uploads.check_archive` with these limits). Then every file the manifest
    lists must be there with its sha256 and size (members are read at most to their recorded
    size), no other file may be there, and ``audit/entries.json`` must be an unbroken hash
    chain (consecutive ``seq``, each ``prev_hash`` the previous ``hash``, each ``hash`` the
    sha256 of its canonical text, which agrees with the listed fields) ending in the
    manifest's head hash. Raises :class:`DossierError` when the file does not exist, is not
    a ZIP, trips the guard, or has no readable manifest.
    """
    path = Path(path)
    if not path.is_file():
        raise DossierError(_("%(path)s: no such file") % {"path": path})
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DossierError(_("%(path)s: not a ZIP archive.") % {"path": path}) from exc  # the library's text is English
    with archive:
        try:
            check_archive(archive, max_entries=max_entries, max_total=max_bytes, max_ratio=max_ratio,
                          label=str(path))
        except UploadRejected as exc:
            raise DossierError(exc.message) from exc
        members: dict[str, list[zipfile.ZipInfo]] = {}
        for info in archive.infolist():
            if not info.is_dir():
                members.setdefault(info.filename, []).append(info)
        if MANIFEST not in members:
            raise DossierError(_("%(path)s: no %(manifest)s; this is not a Kelisim dossier") % {"path": path,
                                                                                            "manifest": MANIFEST})
        try:
            _digest, _size, raw = _read_capped(archive, members[MANIFEST][0], MANIFEST_MAX_BYTES, keep=True)
            manifest = json.loads(raw) if raw is not None else None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise DossierError(_("%(path)s: %(manifest)s cannot be read (%(error)s)") % {
                "path": path, "manifest": MANIFEST, "error": exc}) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or \
                not isinstance(manifest.get("files"), list):
            raise DossierError(_("%(path)s: %(manifest)s is not a %(format)s manifest") % {
                "path": path, "manifest": MANIFEST, "format": FORMAT})
        report = Report(manifest=manifest)
        listed: dict[str, dict] = {}
        for item in manifest["files"]:
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                report.problems.append(("damaged", MANIFEST, (_("a file entry is malformed: %(entry)s") % {"entry": repr(item)})[:300]))
                continue
            listed[item["path"]] = item
        entries_raw = None
        for name, item in listed.items():
            infos = members.get(name)
            if not infos:
                report.problems.append(("missing", name, _("listed in the manifest but not in the archive")))
                continue
            if len(infos) > 1:
                report.problems.append(("extra", name, _("the archive holds %(count)s entries of this name") % {
                    "count": len(infos)}))
            expected_size = item.get("size") if isinstance(item.get("size"), int) else 0
            try:
                digest, size, content = _read_capped(archive, infos[0], max(expected_size, 0),
                                                       keep=name == ENTRIES_JSON)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                report.problems.append(("damaged", name, _("cannot be read: the member is damaged or compressed in an "
                                                            "unsupported way")))
                continue
            report.checked += 1
            report.bytes += size
            if size != expected_size or digest != item.get("sha256"):
                found = f"{size:,}+" if size > expected_size else f"{size:,}"
                report.problems.append(("changed", name, _(
                    "sha256 %(found_sha)s…, %(found)s bytes; the manifest records %(listed_sha)s…, %(listed)s bytes") % {
                    "found_sha": digest[:16], "found": found, "listed_sha": str(item.get("sha256"))[:16],
                    "listed": f"{expected_size:,}"}))
            if name == ENTRIES_JSON:
                entries_raw = content
        for name in sorted(set(members) - set(listed) - {MANIFEST}):
            report.problems.append(("extra", name, _("in the archive but not listed in the manifest")))
        if len(members.get(MANIFEST, [])) > 1:
            report.problems.append(("extra", MANIFEST, _("the archive holds more than one manifest")))
        if entries_raw is not None:
            _check_entries(entries_raw, manifest, report)
        elif ENTRIES_JSON not in listed:
            report.problems.append(("audit", ENTRIES_JSON, _("the manifest lists no audit entries")))
    return report


def _check_entries(raw: bytes, manifest: dict, report: Report) -> None:
    """Append ``audit`` problems when the entries do not form the chain the manifest names."""
    from workflow.audit import sha256_hex

    try:
        entries = json.loads(raw)
    except ValueError as exc:
        where = (_("line %(line)s, column %(column)s") % {"line": exc.lineno, "column": exc.colno}
                 if isinstance(exc, json.JSONDecodeError) else _("not UTF-8 text"))
        report.problems.append(("audit", ENTRIES_JSON, _("not valid JSON (%(where)s)") % {"where": where}))
        return
    if not isinstance(entries, list):
        report.problems.append(("audit", ENTRIES_JSON, _("not a list of entries")))
        return
    prev = GENESIS_HASH
    for expected_seq, entry in enumerate(entries, start=1):
        where = f"{ENTRIES_JSON} seq {entry.get('seq') if isinstance(entry, dict) else '?'}"
        if not isinstance(entry, dict) or not isinstance(entry.get("canonical"), str):
            report.problems.append(("audit", where, _("malformed entry")))
            return
        reason = None
        if entry.get("seq") != expected_seq:
            reason = _("sequence broken: expected seq %(seq)s") % {"seq": expected_seq}
        elif entry.get("prev_hash") != prev:
            reason = _("link broken: prev_hash is not the previous entry's hash")
        elif sha256_hex(entry["canonical"]) != entry.get("hash"):
            reason = _("hash mismatch: the canonical text does not hash to the listed hash")
        else:
            try:
                recorded = json.loads(entry["canonical"])
            except ValueError:
                recorded = None
            if not isinstance(recorded, dict):
                reason = _("canonical text is not a JSON object")
            else:
                for field, listed in (("seq", "seq"), ("prev_hash", "prev_hash"), ("transition", "transition"),
                                      ("from_state", "from_state"), ("to_state", "to_state"),
                                      ("actor_username", "actor"), ("comment", "comment"), ("data", "data"),
                                      ("created_at", "created_at")):
                    if recorded.get(field) != entry.get(listed):
                        reason = _("field %(field)s differs from the hashed record") % {"field": repr(listed)}
                        break
        if reason:
            report.problems.append(("audit", where, reason))
            return
        prev = entry["hash"]
        report.entries += 1
    audit = manifest.get("audit") if isinstance(manifest.get("audit"), dict) else {}
    if audit.get("head_hash") != prev or audit.get("entries") != len(entries):
        report.problems.append(("audit", ENTRIES_JSON, _(
            "the entries end in %(end)s… after %(count)s entries; the manifest names the chain head %(head)s… "
            "after %(listed)s entries") % {"end": prev[:16], "count": len(entries),
                                           "head": str(audit.get("head_hash"))[:16], "listed": audit.get("entries")}))


def compare_with_database(report: Report) -> list[tuple[str, str, str]]:
    """Problems found comparing a verified dossier with this installation's records: the
    case's chain must contain the dossier's head hash at its position, and every document's
    sha256 must be a recorded version of that case. Returns ``[(kind, path, detail)]``."""
    from workflow.models import AuditEntry

    from .models import DocumentVersion

    manifest = report.manifest
    problems = []
    audit = manifest.get("audit") if isinstance(manifest.get("audit"), dict) else {}
    chain, count, head = audit.get("chain"), audit.get("entries"), audit.get("head_hash")
    if not (isinstance(chain, str) and isinstance(head, str) and isinstance(count, int)
            and not isinstance(count, bool) and 0 <= count < 2**63):
        problems.append(("database", MANIFEST, _(
            "the manifest's audit section must name the chain (text), the number of entries (a whole "
            "number) and the head hash (text); it cannot be compared with this installation")))
        count = 0
    if count:
        recorded = AuditEntry.objects.filter(chain=chain, seq=count).values_list("hash", flat=True).first()
        if recorded is None:
            problems.append(("database", ENTRIES_JSON, _("this installation has no entry %(seq)s in chain %(chain)s") % {
                "seq": count, "chain": chain}))
        elif recorded != head:
            problems.append(("database", ENTRIES_JSON, _(
                "entry %(seq)s of chain %(chain)s is %(here)s… here, the dossier says %(there)s…") % {
                "seq": count, "chain": chain, "here": recorded[:16], "there": str(head)[:16]}))
    case = manifest.get("case")
    owner = case.get("ref") if isinstance(case, dict) else None
    files = manifest.get("files") if isinstance(manifest.get("files"), list) else []
    for item in files:
        if isinstance(item, dict) and item.get("document"):
            if not DocumentVersion.objects.filter(document__owner_ref=owner, sha256=item.get("sha256")).exists():
                problems.append(("database", item.get("path", "?"),
                                 _("no version of a document of %(case)s has this sha256 here") % {"case": owner}))
    return problems
