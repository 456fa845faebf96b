"""``python manage.py verify_storage [--json] [--prefix KEY_PREFIX]``: check the stored files.

Streams the object of every document version (and finished PDF rendition) from the default
storage (``STORAGE_URL``) and compares its sha256 and size with the recorded ones, then lists
every stored object and reports those that belong to no row. ``--prefix TC-2017/`` limits
both to keys starting with the prefix. One line per problem::

    missing TC-2017/A1/submission/application_receipt-ru-v1-0123abcd4567.docx (TC-2017/A1 application_receipt (ru) v1)
    corrupted KEY (VERSION): recorded sha256 ... size ..., found sha256 ... size ...
    orphaned KEY (1234 bytes)

then a summary. Exit 0 when there is no problem, 1 when there is any, 2 when the storage
cannot be reached (S3 server down, bucket or directory absent) or the prefix is invalid.
``--json`` prints one JSON object instead (``{"ok", "storage", "records_checked",
"objects_listed", "missing", "corrupted", "orphaned"}``, each problem
``{"key", "record_id", "record", "detail"}``; or ``{"ok": false, "error": ...}`` with exit 2).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from documents.storage import StorageUnreachable, check_prefix, verify_storage


class Command(BaseCommand):
    help = "Report document versions whose stored object is missing or corrupted, and orphaned objects."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON object (machine output)")
        parser.add_argument("--prefix", default="", metavar="KEY_PREFIX",
                            help="check only storage keys starting with this prefix (e.g. TC-2017/)")

    def handle(self, *args, json: bool = False, prefix: str = "", **options):
        as_json = json
        try:
            check_prefix(prefix)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        try:
            report = verify_storage(prefix=prefix)
        except StorageUnreachable as exc:
            if as_json:
                self.stdout.write(_dumps({"ok": False, "error": str(exc)}))
                raise SystemExit(2) from exc
            raise CommandError(str(exc), returncode=2) from exc
        if as_json:
            self.stdout.write(_dumps({
                "ok": report.ok, "storage": report.storage, "records_checked": report.records_checked,
                "objects_listed": report.objects_listed,
                **{kind: [{"key": p.key, "record_id": p.record_id, "record": p.version, "detail": p.detail}
                          for p in report.problems if p.kind == kind]
                   for kind in ("missing", "corrupted", "orphaned")},
            }))
        else:
            for problem in report.problems:
                self.stdout.write(problem.line())
            self.stdout.write(
                f"{report.storage}{' under ' + prefix if prefix else ''}: {report.records_checked} files checked, {report.objects_listed} objects "
                f"listed; {report.count('missing')} missing, {report.count('corrupted')} corrupted, "
                f"{report.count('orphaned')} orphaned")
        if not report.ok:
            raise SystemExit(1)


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
