"""``python manage.py run_cycle FILE [--format table|json]``: run the whole cycle on a round.

Imports the round if needed, drives every stage with scripted actors (see
``processes.cycle``), and prints the cases. Exit 2 for a malformed file, 1 when a step
fails (the message names the step and the reason; completed steps stay done), 3 when the round
holds work of real users (an application filed in the portal, an expert assigned by a
coordinator, a draft with saved scores: ``processes.cycle.human_work``); then no step is taken,
because the scripted actors never act in a person's name.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from processes.cycle import HumanWork, case_summary, run_cycle
from processes.rounds.importer import RoundFileError, import_round
from workflow.exceptions import WorkflowError


class Command(BaseCommand):
    help = "Import a round if needed and run every stage of the cycle with scripted actors."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the round file")
        parser.add_argument("--format", choices=["table", "json"], default="table")

    def handle(self, *args, file, format, **options):
        try:
            imported = import_round(file)
        except RoundFileError as exc:
            raise CommandError("cannot import the round:\n  - " + "\n  - ".join(exc.problems), returncode=2) from exc
        try:
            result = run_cycle(imported.round)
        except HumanWork as exc:
            raise CommandError(
                f"round {exc.round.code} is run by people, not by the scripted actors; no step was taken:\n  - "
                + "\n  - ".join(exc.problems), returncode=3) from exc
        except WorkflowError as exc:
            raise CommandError(f"the cycle stopped: {exc.message}", returncode=1) from exc
        cases = [case_summary(case) for case in result.cases]
        if format == "json":
            self.stdout.write(json.dumps({"round": result.round.code, "state": result.round.state, "cases": cases},
                                         ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"Round {result.round.code} ({result.round.state})")
        header = f"{'case':<12} {'state':<15} {'score':>6} {'rank':>4}  {'decision':<26} {'docs':>4}  name"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for c in cases:
            self.stdout.write(f"{c['ref']:<12} {c['state']:<15} {c['score'] or '-':>6} {c['rank'] or '-':>4}  "
                              f"{c['decision']:<26} {len(c['documents']):>4}  {c['name']}")
