"""``python manage.py import_round FILE``: import a round file (idempotent).

Exit 0 when imported or already present with the same content; exit 2 with every problem
named when the file is malformed (nothing is written).
"""

from django.core.management.base import BaseCommand, CommandError

from processes.rounds.importer import RoundFileError, import_round


class Command(BaseCommand):
    help = "Import a round (criteria, weights, limits, signatories, applications) from a JSON file."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the round file, e.g. samples/pilot-selection-2017.json")

    def handle(self, *args, file, **options):
        try:
            result = import_round(file)
        except RoundFileError as exc:
            raise CommandError("cannot import the round:\n  - " + "\n  - ".join(exc.problems)
                               + f"\n(file: {file}; nothing was changed)", returncode=2) from exc
        if result.created:
            self.stdout.write(f"imported round {result.round.code}: {result.cases} applications, "
                              f"{result.round.criteria.count()} criteria")
        else:
            self.stdout.write(f"round {result.round.code} is already imported from this file; nothing changed")
