"""Load data for the scale check (issue 7, item 6): one round with many cases, their open and
done human tasks, deadlines, and millions of audit entries in valid hash chains, in bulk.

Used by ``python manage.py generate_load_data`` and by ``bench/scale.py``. What is generated
(``generate(cases=N, audit_entries=M)``):

* a round imported from ``samples/pilot-selection-2017.json`` under a new code (its 9 sample
  applications become cases 1..9 through the ordinary importer) and opened for applications;
* ``N - 9`` more cases ``<CODE>/A10...`` with their applications, spread over the stages by
  :data:`MIX` (weights in percent: drafts, filed applications awaiting the completeness
  check, returned, refused, withdrawn, in selection, not selected, diagnosis ... closed);
* the completeness-check tasks: an open task (viewflow ``Process`` + ``act`` ``Task``, the
  rows :func:`workflow.tasks.open_task` writes, without the ``start`` task row) in the
  coordinators' queue for every filed or resubmitted application (about 14% of the cases;
  every 20th of them assigned to the coordinator ``load-coordinator``), each with its
  :class:`~workflow.models.Deadline`; a done task for every application that was checked;
  and an open stage deadline (queue ``coordinator``) for cases in selection to support;
* ``M`` audit entries over the new cases' chains: each case's real path (``case_created``,
  ``submit``, ``accept``, ``advance_to_selection`` ...) then ``comment_added`` notes up to its
  share; :data:`HEAVY_CASES` cases (numbers 10, 11, ...) get :data:`HEAVY_SHARE` of the
  entries between them (the case page's worst case), the others share the rest evenly.
  Every entry is hashed exactly as :func:`workflow.audit.append_entry` does (canonical JSON,
  sha256, ``prev_hash`` links, seq 1..n) and every chain head (:class:`AuditChain`) names its
  last entry, so ``verify_audit`` passes. On PostgreSQL the entries are written with
  ``COPY ... FROM STDIN`` (psycopg 3 ``cursor.copy``), elsewhere with ``bulk_create``.

Everything is written in one transaction: an error or an interrupt leaves nothing. A round
with the same code refuses the run (:class:`LoadDataExists`). Times are spread over the year
before now; the random choices come from ``random.Random(seed)`` so a seed gives the same data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from workflow.audit import _insert_fields, canonical_json, sha256_hex
from workflow.models import GENESIS_HASH, AuditChain, AuditEntry, Deadline

SAMPLE = Path(settings.BASE_DIR) / "samples" / "pilot-selection-2017.json"
#: The coordinator whose assigned tasks and queue the scale check reads.
COORDINATOR = "load-coordinator"
#: Cases that carry :data:`HEAVY_SHARE` of the audit entries between them (the long histories;
#: at least ten times an ordinary case's share each).
HEAVY_CASES = 10
HEAVY_SHARE = 0.025
#: Cases written per batch (and per progress step).
BATCH = 2000

#: ``(case state, application state, weight in percent, path)``: the case's audit path, each
#: step ``(object, transition, from, to)`` with object ``case`` or ``app``.
_SUBMIT = [("app", "submit", "draft", "submitted")]
_ACCEPT = _SUBMIT + [("app", "accept", "submitted", "accepted")]
_SELECT = _ACCEPT + [("case", "advance_to_selection", "submission", "selection")]
_DIAG = _SELECT + [("case", "advance_to_diagnosis", "selection", "diagnosis")]
_PLAN = _DIAG + [("case", "advance_to_planning", "diagnosis", "planning")]
_SUPPORT = _PLAN + [("case", "advance_to_support", "planning", "support")]
_IMPL = _SUPPORT + [("case", "advance_to_implementation", "support", "implementation")]
_RETURN = _SUBMIT + [("app", "return_for_revision", "submitted", "returned_for_revision")]
MIX = [
    ("submission", "draft", 4, []),
    ("submission", "submitted", 12, _SUBMIT),
    ("submission", "returned_for_revision", 3, _RETURN),
    ("submission", "resubmitted", 2, _RETURN + [("app", "resubmit", "returned_for_revision", "resubmitted")]),
    ("submission", "accepted", 4, _ACCEPT),
    ("refused", "refused", 10, _SUBMIT + [("app", "refuse", "submitted", "refused"),
                                          ("case", "refuse", "submission", "refused")]),
    ("withdrawn", "withdrawn", 3, [("app", "withdraw", "draft", "withdrawn"),
                                   ("case", "withdraw", "submission", "withdrawn")]),
    ("selection", "accepted", 22, _SELECT),
    ("not_selected", "accepted", 25, _SELECT + [("case", "close_not_selected", "selection", "not_selected")]),
    ("diagnosis", "accepted", 5, _DIAG),
    ("planning", "accepted", 4, _PLAN),
    ("support", "accepted", 3, _SUPPORT),
    ("implementation", "accepted", 2, _IMPL),
    ("closed", "accepted", 1, _IMPL + [("case", "close", "implementation", "closed")]),
]
#: Application states whose completeness check is open (a task in the coordinators' queue).
OPEN_CHECK = ("submitted", "resubmitted")
#: Case states with an open stage deadline (``Case.STAGE_LIMITS``).
STAGE_DEADLINE = {"selection": "Complete the selection stage", "diagnosis": "Complete the diagnosis stage",
                  "planning": "Complete the planning stage", "support": "Complete the support stage"}
COMPLETENESS_TITLE = "Check completeness and eligibility"
COMPLETENESS_OUTCOMES = ["accept", "return_for_revision", "refuse"]


class LoadDataExists(Exception):
    """A round with the requested code exists already; nothing was written."""


@dataclasses.dataclass
class LoadResult:
    """What :func:`generate` wrote: counts, and seconds per phase (``timings``)."""

    round_code: str
    cases: int = 0
    audit_entries: int = 0
    chains: int = 0
    open_tasks: int = 0
    done_tasks: int = 0
    deadlines: int = 0
    heavy_refs: list[str] = dataclasses.field(default_factory=list)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())


class Progress:
    """A text progress bar on ``stream``: ``label [#####.....] 45% 900,000/2,000,000 12,345/s``.

    Redrawn in place (``\\r``) at most every ``every`` seconds on a terminal; elsewhere one line
    per 10%. ``stream=None`` draws nothing.
    """

    def __init__(self, label: str, total: int, stream=None, every: float = 0.25):
        self.label, self.total, self.stream, self.every = label, max(total, 1), stream, every
        self.done, self.start, self._last, self._decile = 0, time.perf_counter(), 0.0, -1
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def update(self, n: int) -> None:
        self.done += n
        if self.stream is None:
            return
        now = time.perf_counter()
        decile = self.done * 10 // self.total
        if self.tty and (now - self._last >= self.every or self.done >= self.total):
            self._last = now
            self.stream.write("\r" + self.line(now))
            self.stream.flush()
        elif not self.tty and decile != self._decile:
            self._decile = decile
            self.stream.write(self.line(now) + "\n")

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.perf_counter()) - self.start, 1e-9)
        share = min(self.done / self.total, 1.0)
        bar = "#" * int(share * 30) + "." * (30 - int(share * 30))
        return (f"{self.label:<14} [{bar}] {share:4.0%} {self.done:,}/{self.total:,} "
                f"{self.done / elapsed:,.0f}/s")

    def close(self) -> None:
        if self.stream is not None and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _import_round(code: str):
    """Import the sample round file under ``code`` (through the ordinary importer) and open it."""
    from processes.rounds.actors import ensure_user
    from processes.rounds.importer import import_round
    from workflow.transitions import perform

    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    doc["round"]["code"] = code
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{code}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        rnd = import_round(path).round
    coordinator = ensure_user(COORDINATOR, "coordinator", full_name="Load Coordinator")
    perform(rnd, "open_applications", actor=coordinator, comment="load data")
    return rnd, doc["applications"], coordinator


def _shares(n_cases: int, total: int) -> list[int]:
    """Entries per generated case (index 0..n-1): the heavy ones first, the rest even."""
    heavy = min(HEAVY_CASES, n_cases)
    others = n_cases - heavy
    # at least ten times an ordinary case's share each, and every other case keeps two entries
    each = max(int(total * HEAVY_SHARE) // max(heavy, 1), 10 * total // n_cases)
    heavy_total = min(each * heavy, total - 2 * others) if others else 0
    rest = total - heavy_total
    shares = [heavy_total // heavy + (1 if i < heavy_total % heavy else 0) for i in range(heavy)] if heavy_total else []
    others = n_cases - len(shares)
    shares += [rest // others + (1 if i < rest % others else 0) for i in range(others)]
    return shares


def _writer(progress: Progress):
    """A function writing a list of audit-entry row tuples (columns of ``_insert_fields``)."""
    fields = _insert_fields()
    if connection.vendor == "postgresql":
        q = connection.ops.quote_name
        sql = (f"COPY {q(AuditEntry._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) FROM STDIN")

        def write(rows):
            with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            progress.update(len(rows))
    else:  # executemany of the append's own INSERT, values adapted as the fields would
        from workflow.audit import _statements

        sql = _statements(connection)["insert"]
        at = [f.attname for f in fields].index("created_at")
        data = [f.attname for f in fields].index("data")
        adapt = connection.ops.adapt_datetimefield_value

        def write(rows):
            prepared = []
            for row in rows:
                row = list(row)
                row[at], row[data] = adapt(row[at]), json.dumps(row[data], ensure_ascii=False)
                prepared.append(row)
            with connection.cursor() as cursor:
                cursor.executemany(sql, prepared)
            progress.update(len(rows))
    return write


#: From this many audit entries on, PostgreSQL builds the audit table's secondary indexes and
#: unique constraints after the COPY instead of maintaining them row by row (much faster; the
#: table is locked for the run, which is why this is for load data only).
REINDEX_FROM = 100_000


@contextlib.contextmanager
def _indexes_built_after(model, enabled: bool):
    """Inside the caller's transaction on PostgreSQL: drop ``model``'s unique constraints and
    secondary indexes (not its primary key), run the block, then build them again from their
    saved definitions (a violated unique constraint then fails the transaction)."""
    if not enabled or connection.vendor != "postgresql":
        yield
        return
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = %s::regclass AND contype = 'u'", [model._meta.db_table])
        constraints = cursor.fetchall()
        cursor.execute("SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                       "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT EXISTS "
                       "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)", [model._meta.db_table])
        indexes = cursor.fetchall()
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire the pending (deferred) foreign key checks
        for name, _definition in constraints:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        for name, definition in constraints:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}")


def generate(*, cases: int, audit_entries: int, round_code: str | None = None, seed: int = 7,
             stream=None, mix: list | None = None) -> LoadResult:
    """Write the load data described in the module docstring; return a :class:`LoadResult`.

    ``cases`` >= 10 (the 9 sample applications plus at least one generated case);
    ``audit_entries`` >= 2 per generated case (each case gets at least its ``case_created``
    entry and one more). ``round_code`` defaults to ``LOAD-<cases>``. ``stream`` (a text
    stream) gets the progress bars. ``mix`` replaces :data:`MIX` (same shape; tests use it to
    put every generated case in one state). Raises :class:`LoadDataExists` when the round exists,
    ``ValueError`` for sizes out of range. One transaction: on any error nothing is written.
    """
    from processes.rounds.models import Case, Round
    from processes.submission.models import Application
    from viewflow.workflow.models import Process, Task
    from viewflow.workflow.status import PROCESS, STATUS

    from workflow.flows import HumanTaskFlow

    code = round_code or f"LOAD-{cases}"
    if Round.objects.filter(code=code).exists():
        raise LoadDataExists(f"round {code} exists already: nothing was generated (choose another --round)")
    if cases < 10:
        raise ValueError("--cases must be at least 10 (the 9 sample applications plus generated ones)")
    generated = cases - 9
    if audit_entries < 2 * generated:
        raise ValueError(f"--audit-entries must be at least {2 * generated:,} (two per generated case)")
    rng = random.Random(seed)
    result = LoadResult(round_code=code)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.timings[name] = round(now - clock, 2)
        clock = now

    with transaction.atomic():
        rnd, templates, coordinator = _import_round(code)
        case_ct = ContentType.objects.get_for_model(Case)
        app_ct = ContentType.objects.get_for_model(Application)
        now = timezone.now().replace(microsecond=0)
        origin = now - dt.timedelta(days=365)
        mix = mix or MIX
        weights = [m[2] for m in mix]
        shares = _shares(generated, audit_entries)
        flow_class, act = HumanTaskFlow, HumanTaskFlow.act
        lap("round")

        case_bar = Progress("cases, tasks", generated, stream)
        entry_bar = Progress("audit entries", sum(shares), stream)
        write_entries = _writer(entry_bar)
        heads = []
        rebuild = contextlib.ExitStack()
        rebuild.enter_context(_indexes_built_after(AuditEntry, audit_entries >= REINDEX_FROM))
        for start in range(0, generated, BATCH):
            numbers = range(10 + start, 10 + min(start + BATCH, generated))
            mixes = [rng.choices(mix, weights)[0] for _ in numbers]
            batch_cases, batch_apps = [], []
            for number, (case_state, app_state, _w, _path) in zip(numbers, mixes):
                tpl = templates[number % len(templates)]
                ref = f"A{number}"
                batch_cases.append(Case(round=rnd, ref=f"{code}/{ref}", number=ref, language=rnd.language,
                                        name_en=f"{tpl['name_en']} #{number}",
                                        name_ru=f"{tpl.get('name_ru', '')} #{number}",
                                        name_kk=f"{tpl.get('name_kk', '')} #{number}", state=case_state))
            Case.objects.bulk_create(batch_cases, batch_size=BATCH)
            starts = [origin + dt.timedelta(seconds=rng.randrange(300 * 86400)) for _ in numbers]
            for case, (case_state, app_state, _w, path), began in zip(batch_cases, mixes, starts):
                tpl = templates[int(case.number[1:]) % len(templates)]
                batch_apps.append(Application(
                    case=case, round=rnd, ref=case.number, name_en=case.name_en, name_ru=case.name_ru,
                    name_kk=case.name_kk, region=str(tpl.get("region", "")), city=str(tpl.get("city", "")),
                    sector=str(tpl.get("sector", "")), employees=1000 + rng.randrange(5000), smes=rng.randrange(80),
                    anchor_enterprises=rng.randrange(1, 6), research_partners=rng.randrange(4),
                    submitted_at=began + dt.timedelta(hours=1) if path else None, state=app_state))
            Application.objects.bulk_create(batch_apps, batch_size=BATCH)

            # audit entries: the case's path, then notes up to its share
            rows = []
            for k, (case, app, (case_state, app_state, _w, path), began) in enumerate(
                    zip(batch_cases, batch_apps, mixes, starts)):
                share = shares[start + k]
                if start + k < HEAVY_CASES:
                    result.heavy_refs.append(case.ref)
                steps = [("case", "case_created", "", "submission")] + path
                prev, when = GENESIS_HASH, began
                step = dt.timedelta(seconds=max(60, 60 * 86400 // max(share, 1)))  # a history of about 60 days
                for seq in range(1, share + 1):
                    if seq <= len(steps):
                        which, transition, source, target = steps[seq - 1]
                        comment, data = "", ({"application": case.number} if seq == 1 else {})
                    else:
                        which, transition, source, target = "note", "comment_added", "", ""
                        comment, data = f"Load note {seq} on {case.ref}", {"case": case.ref}
                    if which == "case":
                        obj_type, obj_id, obj_repr = "rounds.case", str(case.pk), case.ref
                    elif which == "app":
                        obj_type, obj_id, obj_repr = "submission.application", str(app.pk), case.ref
                    else:
                        obj_type, obj_id, obj_repr = "portal.casecomment", str(seq), f"{case.ref} note {seq}"
                    payload = {
                        "chain": case.ref, "seq": seq, "created_at": when.astimezone(dt.timezone.utc).isoformat(),
                        "actor_id": coordinator.pk, "actor_username": coordinator.username,
                        "on_behalf_of_username": "", "object_type": obj_type, "object_id": obj_id,
                        "object_repr": obj_repr, "transition": transition, "from_state": source,
                        "to_state": target, "comment": comment, "data": data, "prev_hash": prev,
                    }
                    canonical = canonical_json(payload)
                    digest = sha256_hex(canonical)
                    rows.append((case.ref, seq, when, coordinator.pk, coordinator.username, "", obj_type, obj_id,
                                 obj_repr, transition, source, target, comment,
                                 json.dumps(data, ensure_ascii=False) if connection.vendor == "postgresql" else data,
                                 prev, digest, canonical))
                    prev, when = digest, when + step + dt.timedelta(seconds=rng.randrange(60))
                heads.append(AuditChain(key=case.ref, length=share, head_hash=prev))
                if len(rows) >= 50_000:
                    write_entries(rows)
                    rows = []
            if rows:
                write_entries(rows)

            # tasks: open checks for filed applications, done checks for the checked ones; deadlines
            processes, tasks, deadlines = [], [], []
            for case, app, (case_state, app_state, _w, path), began in zip(batch_cases, batch_apps, mixes, starts):
                checked = [s for s in path if s[0] == "app" and s[1] in COMPLETENESS_OUTCOMES]
                filed = began + dt.timedelta(hours=1)
                for index in range(len(checked) + (1 if app_state in OPEN_CHECK else 0)):
                    is_open = index == len(checked)
                    assigned = is_open and int(case.number[1:]) % 20 == 0
                    data = {"transition": "accept", "outcomes": COMPLETENESS_OUTCOMES, "role": "coordinator",
                            "assignee_id": None, "title": COMPLETENESS_TITLE}
                    created = filed + dt.timedelta(days=index * 3)
                    process = Process(flow_class=flow_class, artifact_content_type=app_ct,
                                      artifact_object_id=app.pk, data=data, created=created,
                                      status=PROCESS.NEW if is_open else PROCESS.DONE,
                                      finished=None if is_open else created + dt.timedelta(days=2))
                    status = (STATUS.ASSIGNED if assigned else STATUS.NEW) if is_open else STATUS.DONE
                    task = Task(process=process, flow_task=act, flow_task_type="HUMAN", status=status,
                                created=created, owner=coordinator if assigned or not is_open else None,
                                assigned=created if assigned or not is_open else None,
                                finished=None if is_open else created + dt.timedelta(days=2),
                                data={"role": "coordinator"} if is_open else {
                                    "role": "coordinator", "outcome": checked[index][1],
                                    "completed_by": coordinator.pk})
                    processes.append(process)
                    tasks.append((task, is_open, case, app, created))
                stage_label = STAGE_DEADLINE.get(case_state)
                if stage_label:
                    deadlines.append(Deadline(chain=case.ref, label=stage_label, subject_type=case_ct,
                                              subject_id=case.pk, role="coordinator", language=case.language,
                                              due_at=now + dt.timedelta(days=rng.randrange(-20, 60)),
                                              reminder_offsets=[-2, 0]))
            Process.objects.bulk_create(processes, batch_size=BATCH)
            for task, *_rest in tasks:
                task.process_id = task.process.pk
            Task.objects.bulk_create([t for t, *_rest in tasks], batch_size=BATCH)
            for task, is_open, case, app, created in tasks:
                if is_open:
                    deadlines.append(Deadline(chain=case.ref, label=COMPLETENESS_TITLE, subject_type=app_ct,
                                              subject_id=app.pk, task_id=task.pk, role="coordinator",
                                              language=case.language, reminder_offsets=[-2, 0],
                                              due_at=created + dt.timedelta(days=10)))
                    result.open_tasks += 1
                else:
                    result.done_tasks += 1
            Deadline.objects.bulk_create(deadlines, batch_size=BATCH)
            result.deadlines += len(deadlines)
            result.cases += len(batch_cases)
            case_bar.update(len(batch_cases))
        AuditChain.objects.bulk_create(heads, batch_size=10_000)
        case_bar.close()
        entry_bar.close()
        result.audit_entries, result.chains = entry_bar.done, len(heads)
        result.cases += 9
        lap("cases_tasks_entries")
        if stream is not None and audit_entries >= REINDEX_FROM and connection.vendor == "postgresql":
            stream.write("building the audit table's indexes and unique constraints ...\n")
        rebuild.close()
        lap("indexes")
    if connection.vendor == "postgresql":
        # fresh statistics for the planner; outside a transaction also VACUUM (the visibility
        # map, and the dead rows of an interrupted earlier run)
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        with connection.cursor() as cursor:
            for model in (AuditEntry, AuditChain, Case, Application, Process, Task, Deadline):
                cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")
    lap("analyze")
    return result


def sample_chains(result: LoadResult, k: int = 20, seed: int = 7) -> list[str]:
    """The heavy chains and up to ``k`` random generated ones, to verify after a run."""
    rng = random.Random(seed)
    generated = result.cases - 9
    picks = {f"{result.round_code}/A{10 + rng.randrange(generated)}" for _ in range(k)}
    return sorted(set(result.heavy_refs) | picks)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python manage.py generate_load_data")
