"""``python manage.py open_demo_round SAMPLE [--code TC-DEMO] [--days 30] [--reapply A8]``: an
illustrative follow-up round, open for applications today, for the demo (``make demo``).

The 2017 sample round is decided long ago, so without this the demo has no round an applicant
can apply to (the "Apply to ..." link of the navigation appears only for open rounds). The
command derives a round file from ``SAMPLE`` (:func:`follow_up_round`): the same parties,
criteria, weights, pass mark, signatories and rules, round code ``--code``, applications open
from today to today + ``--days`` calendar days (Asia/Almaty dates, computed when the command
runs), every derived value labelled ``illustrative``, and one application: the sample's
``--reapply`` (by default A8, the 2017 application just below the pass mark), filed again as
an imported draft. The file is imported with :func:`processes.rounds.importer.import_round`
(the importer's full validation, an ``imported`` audit entry) and the round is opened with the
``open_applications`` transition by the scripted coordinator (``perform``: audited).

Running it again changes nothing when the round exists (it prints its state and dates); the
round then stays open as long as nobody closes it, whatever its dates. Exit status 2 when the
sample cannot be read or the derived file is refused.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError

ILLUSTRATIVE = "illustrative"


def follow_up_round(sample: dict, *, code: str, today: dt.date, days: int, reapply: str) -> dict:
    """The round file of an illustrative follow-up round derived from the parsed ``sample``.

    ``today`` is the first day applications are accepted, ``today + days`` (calendar days) the
    last. The result keeps the sample's structure (so the importer validates it the same way);
    raises ``ValueError`` when the sample has no applications.
    """
    doc = copy.deepcopy(sample)
    if not doc.get("applications"):
        raise ValueError("the sample has no applications to derive a follow-up application from")
    rnd = doc["round"]
    rnd["code"] = code
    rnd["title_en"] = f"Follow-up selection of pilot territorial clusters ({code}, illustrative demo round)"
    rnd["title_ru"] = f"Дополнительный отбор пилотных территориальных кластеров ({code}, иллюстративный демо-раунд)"
    rnd["title_kk"] = f"Пилоттық аумақтық кластерлерді қосымша іріктеу ({code}, демо-раунд, иллюстрация)"
    note = f"computed by open_demo_round on {today.isoformat()}"
    rnd["applications_open"] = {"value": today.isoformat(), "label": ILLUSTRATIVE, "note": note}
    rnd["applications_close"] = {"value": (today + dt.timedelta(days=days)).isoformat(), "label": ILLUSTRATIVE,
                                 "note": note}
    rnd.pop("memorandum_signed", None)
    chosen = next((a for a in doc["applications"] if a.get("ref") == reapply), doc["applications"][0])
    chosen = {**chosen, "label": ILLUSTRATIVE,
              "status_label": f"illustrative: the 2017 application {chosen['ref']} filed again in the follow-up round"}
    doc["applications"] = [chosen]
    doc["about"] = (f"ILLUSTRATIVE follow-up round for the demo, derived from the 2017 sample by open_demo_round on "
                    f"{today.isoformat()}: same parties, criteria and rules; its code, titles, dates and its one "
                    f"application are made up. Not an official round. Original note: {sample.get('about', '')}")
    return doc


class Command(BaseCommand):
    help = "Import and open an illustrative follow-up round of the sample, open for applications from today."

    def add_arguments(self, parser):
        parser.add_argument("sample", help="the sample round file (samples/pilot-selection-2017.json)")
        parser.add_argument("--code", default="TC-DEMO", help="the follow-up round's code (default TC-DEMO)")
        parser.add_argument("--days", type=int, default=30,
                            help="calendar days applications stay open after today (default 30)")
        parser.add_argument("--reapply", default="A8",
                            help="the sample application filed again in the follow-up round (default A8)")

    def handle(self, *args, sample, code, days, reapply, **options):
        from workflow.transitions import perform

        from processes.rounds.actors import ensure_cycle_actors
        from processes.rounds.importer import CODE_PATTERN, RoundFileError, import_round
        from processes.rounds.models import Round

        if not CODE_PATTERN.match(code):
            raise CommandError(f"--code {code!r}: 1-50 letters, digits, '.', '-' or '_'", returncode=2)
        existing = Round.objects.filter(code=code).first()
        if existing is not None:
            self.stdout.write(f"round {code} exists: {existing.state}, applications "
                              f"{existing.applications_open} to {existing.applications_close}; nothing changed")
            return
        if days < 0:
            raise CommandError("--days must be 0 or more", returncode=2)
        try:
            parsed = json.loads(Path(sample).read_text(encoding="utf-8"))
            today = dt.datetime.now(ZoneInfo("Asia/Almaty")).date()
            doc = follow_up_round(parsed, code=code, today=today, days=days, reapply=reapply)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CommandError(f"{sample}: cannot derive a follow-up round: {exc}", returncode=2) from exc
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / f"{code}.json"
            path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
            try:
                rnd = import_round(path).round
            except RoundFileError as exc:
                raise CommandError("; ".join(exc.problems), returncode=2) from exc
        actors = ensure_cycle_actors(rnd)
        perform(rnd, "open_applications", actor=actors.coordinator,
                comment="illustrative follow-up round for the demo")
        self.stdout.write(f"round {rnd.code} ({ILLUSTRATIVE}) is open for applications from "
                          f"{rnd.applications_open} to {rnd.applications_close}")
