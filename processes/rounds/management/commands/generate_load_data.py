"""``python manage.py generate_load_data --cases 100000 --audit-entries 2000000 [--round CODE] [--seed N]``.

Writes the scale check's load data (see :mod:`processes.rounds.loadgen`): a round from the
2017 sample file under a new code, its cases, applications, human tasks and deadlines, and
audit entries in valid hash chains, with progress bars and the rate of each phase; then
verifies a sample of the chains (the heavy ones and 20 random ones). Exit 0 when done; 2
when the round exists already or a size is out of range (nothing is written then); 1 when
the sampled chains do not verify.
"""

from django.core.management.base import BaseCommand, CommandError

from processes.rounds import loadgen
from workflow.audit import verify_chains


class Command(BaseCommand):
    help = "Generate load data (cases, tasks, hash-chained audit entries) for the scale check."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=100_000, help="cases in the round (at least 10)")
        parser.add_argument("--audit-entries", type=int, default=2_000_000, help="audit entries over their chains")
        parser.add_argument("--round", dest="round_code", default=None, help="round code (default LOAD-<cases>)")
        parser.add_argument("--seed", type=int, default=7, help="seed of the random choices")

    def handle(self, *args, cases, audit_entries, round_code, seed, **options):
        try:
            result = loadgen.generate(cases=cases, audit_entries=audit_entries, round_code=round_code, seed=seed,
                                      stream=self.stdout)
        except (loadgen.LoadDataExists, ValueError) as exc:
            raise CommandError(str(exc), returncode=2) from exc
        seconds = max(result.seconds, 1e-9)
        self.stdout.write(
            f"round {result.round_code}: {result.cases:,} cases, {result.audit_entries:,} audit entries in "
            f"{result.chains:,} chains, {result.open_tasks:,} open and {result.done_tasks:,} done tasks, "
            f"{result.deadlines:,} deadlines in {seconds:.1f} s "
            f"({result.audit_entries / seconds:,.0f} entries/s, {result.cases / seconds:,.0f} cases/s; "
            + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()) + ")")
        chains = loadgen.sample_chains(result, seed=seed)
        check = verify_chains(chains)
        if not check.ok:
            raise CommandError(f"sampled chains do not verify: {check.broken}", returncode=1)
        self.stdout.write(f"verified {check.chains} sampled chains ({check.entries:,} entries): OK")
