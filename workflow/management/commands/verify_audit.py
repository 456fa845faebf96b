"""``python manage.py verify_audit [--case REF]``: recompute the audit hash chains.

Exit 0 with the number of entries and chains checked when every chain is intact; exit 1
naming the first broken entry (id, chain, seq, reason); exit 2 for an unknown ``--case``.
"""

from django.core.management.base import BaseCommand, CommandError

from workflow.audit import verify_chains
from workflow.models import AuditChain


class Command(BaseCommand):
    help = "Recompute every audit chain (or one case's) and report the first broken entry."

    def add_arguments(self, parser):
        parser.add_argument("--case", metavar="REF", help="verify only this case's chain (e.g. TC-2017/A1)")

    def handle(self, *args, case=None, **options):
        chains = None
        if case is not None:
            if not case.strip() or not AuditChain.objects.filter(key=case).exists():
                raise CommandError(f"no audit chain for case {case!r}", returncode=2)
            chains = [case]
        result = verify_chains(chains)
        if not result.ok:
            self.stderr.write(f"audit chain BROKEN at {result.broken}")
            raise SystemExit(1)
        chains_word = "chain" if result.chains == 1 else "chains"
        self.stdout.write(f"audit chains intact: {result.entries} entries in {result.chains} {chains_word}")
