"""``python manage.py verify_dossier FILE [--database]``: check a case dossier ZIP.

Exit 0 with a summary (files, bytes, audit entries, chain head) when every file matches the
manifest and the audit entries form an unbroken chain ending in the manifest's head hash;
exit 1 listing every changed, missing, extra or damaged file and the first break of the
audit chain (and, with ``--database``, every disagreement with this installation's records);
exit 2 when FILE does not exist, is not a ZIP, fails the zip-bomb guard or has no manifest.
See :mod:`documents.dossier` and docs/uploads-and-dossiers.md.
"""

from django.core.management.base import BaseCommand, CommandError

from documents import dossier


class Command(BaseCommand):
    help = "Check a case dossier ZIP against its manifest (sha256 of every file, audit hash chain)."

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="the dossier ZIP (dossier-<case>-<date>.zip)")
        parser.add_argument("--database", action="store_true",
                            help="also compare the chain head and the documents' sha256 with this installation")
        parser.add_argument("--max-entries", type=int, default=dossier.VERIFY_MAX_ENTRIES,
                            help="refuse an archive with more entries (default %(default)s)")
        parser.add_argument("--max-bytes", type=int, default=dossier.VERIFY_MAX_BYTES,
                            help="refuse an archive declaring more uncompressed bytes (default %(default)s)")
        parser.add_argument("--max-ratio", type=int, default=dossier.VERIFY_MAX_RATIO,
                            help="refuse an entry that expands more times than this (default %(default)s)")

    def handle(self, *args, file, database=False, max_entries, max_bytes, max_ratio, **options):
        try:
            report = dossier.verify_dossier(file, max_entries=max_entries, max_bytes=max_bytes, max_ratio=max_ratio)
        except dossier.DossierError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        problems = list(report.problems)
        if database:
            problems += dossier.compare_with_database(report)
        manifest = report.manifest
        case = (manifest.get("case") or {}).get("ref", "?")
        if problems:
            for kind, path, detail in problems:
                self.stderr.write(f"{kind.upper():8} {path}: {detail}")
            raise CommandError(f"dossier of {case} does NOT match its manifest: {len(problems)} problem(s)",
                               returncode=1)
        audit = manifest.get("audit") or {}
        self.stdout.write(
            f"dossier of {case} intact: {report.checked} files ({report.bytes:,} bytes) match the manifest; "
            f"{report.entries} audit entries chain to head {str(audit.get('head_hash'))[:16]}…; "
            f"generated {manifest.get('generated_at')} by Kelisim {manifest.get('kelisim_version')}"
            + ("; agrees with this installation" if database else ""))
