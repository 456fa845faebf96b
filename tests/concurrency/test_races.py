"""Real races on PostgreSQL: concurrent connections on the same transition or approval.

Every race releases 2 to 8 threads together (``threading.Barrier``); each thread has its own
Django database connection, so the transitions really meet in the database. Each race must
have exactly one winner; the losers get a 409 conflict (``StaleObject`` or
``TransitionNotAllowed``) naming the state the winner left the object in; the audit chains
verify and no notification is queued twice.

Only PostgreSQL gives real concurrent writers, so the module is skipped on any other
database, except in CI: with ``CI=true`` and a ``postgres`` ``DATABASE_URL`` it always runs
(and fails if the connection is not PostgreSQL), so a misconfiguration cannot skip it silently.

The tests commit for real (``transaction=True``); pytest-django flushes the database after
each of them, so each test creates its own round, users and objects.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import itertools
import json
import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from processes.implementation.models import Implementation
from processes.planning.models import Plan, PlanAction
from processes.planning.services import send_for_signing, sign
from processes.rounds.actors import ensure_cycle_actors, ensure_user
from processes.rounds.importer import import_round
from processes.rounds.models import Case
from workflow import permissions as roles
from workflow.approvals.models import Decision
from workflow.approvals.services import Signatory, decide, delegate, request_approval
from workflow.audit import verify_chains
from workflow.exceptions import StaleObject, TransitionNotAllowed
from workflow.models import AuditEntry, Notification
from workflow.transitions import perform

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "pilot-selection-2017.json"

#: In CI with a PostgreSQL URL the module must run: a wrong setting fails instead of skipping.
CI_REQUIRES_POSTGRES = (os.environ.get("CI", "").lower() == "true"
                        and os.environ.get("DATABASE_URL", "").startswith("postgres"))
IS_POSTGRES = connection.vendor == "postgresql"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not IS_POSTGRES and not CI_REQUIRES_POSTGRES,
        reason=f"real concurrent connections need PostgreSQL (DATABASE_URL=postgres://...); "
               f"the database here is {connection.vendor}",
    ),
    pytest.mark.django_db(transaction=True),
]

#: Threads per race cycle through 2..8; transition races + approval races >= 200.
RACERS = range(2, 9)
TRANSITION_RACES = 105
APPROVAL_RACES = 105
MAX_WORKERS = 8
#: The two coordinators of one plan must start their ``approve`` within this many seconds.
WINDOW = 0.050
CONFLICTS = (StaleObject, TransitionNotAllowed)


def test_the_races_run_on_postgresql():
    """Not skipped means PostgreSQL: in CI a non-PostgreSQL connection fails here, loudly."""
    assert connection.vendor == "postgresql", (
        f"CI=true with DATABASE_URL={os.environ.get('DATABASE_URL', '')[:20]}... but the connection is "
        f"{connection.vendor}: the concurrency tests would prove nothing")
    assert TRANSITION_RACES + APPROVAL_RACES >= 200


# -- the race machinery --------------------------------------------------------------------------

@dataclasses.dataclass
class Outcome:
    """What one racer did: when it started (after the barrier), its result or its error."""

    started: float
    result: object = None
    error: Exception | None = None
    trace: str = ""

    @property
    def won(self) -> bool:
        return self.error is None

    def __repr__(self) -> str:
        if self.won:
            return f"<won: {self.result}>"
        return f"<{type(self.error).__name__}: {self.error}>"


class Racer:
    """A persistent pool of up to 8 threads, each keeping its own database connection.

    ``race(prepare, act, k)``: ``k`` threads each run ``prepare(i)`` (e.g. load the object),
    meet at a barrier, then run ``act(i, prepared)`` at the same moment. Every error is
    returned as an outcome (with its traceback) so that the assertion names the race; only a
    workflow conflict (409) is an acceptable way to lose.
    """

    def __init__(self, workers: int = MAX_WORKERS):
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="racer")

    @staticmethod
    def _run(barrier, i, prepare, act) -> Outcome:
        prepared = prepare(i)
        barrier.wait(timeout=30)
        started = time.perf_counter()
        try:
            return Outcome(started, result=act(i, prepared))
        except Exception as exc:  # noqa: BLE001 - judged by the caller, with the traceback
            return Outcome(started, error=exc, trace=traceback.format_exc())

    def race(self, k: int, act, prepare=lambda i: None) -> list[Outcome]:
        assert 1 <= k <= self.workers
        barrier = threading.Barrier(k)
        futures = [self.pool.submit(self._run, barrier, i, prepare, act) for i in range(k)]
        return [f.result(timeout=60) for f in futures]

    def close(self) -> None:
        """Close the connection of every worker thread (each runs exactly one closer), then stop."""
        barrier = threading.Barrier(self.workers)

        def closer():
            barrier.wait(timeout=30)  # holds this worker so that every worker gets one closer
            connection.close()

        futures = [self.pool.submit(closer) for _ in range(self.workers)]
        for future in futures:
            future.result(timeout=60)
        self.pool.shutdown(wait=True)


@pytest.fixture
def racer():
    pool = Racer()
    try:
        yield pool
    finally:
        pool.close()


# -- data -------------------------------------------------------------------------------------------

def _import_round(tmp_path: Path, code: str):
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    doc["round"]["code"] = code
    path = tmp_path / f"{code}.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return import_round(path).round


def _audit_of(obj):
    return AuditEntry.objects.filter(object_type=f"{obj._meta.app_label}.{obj._meta.model_name}",
                                     object_id=str(obj.pk))


def _assert_one_winner(outcomes: list[Outcome], state: str, where: str, *, stale: bool = False) -> Outcome:
    """Exactly one racer won; every other one lost with a 409 naming ``state`` (with
    ``stale``, all of them held the old state, so each must be a ``StaleObject``)."""
    for loser in outcomes:
        exc = loser.error
        assert exc is None or isinstance(exc, CONFLICTS), (
            f"{where}: a racer failed with {type(exc).__name__}: {exc}\n{loser.trace}")
    winners = [o for o in outcomes if o.won]
    assert len(winners) == 1, f"{where}: {len(winners)} winners of {len(outcomes)}: {outcomes}"
    for loser in outcomes:
        if loser.won:
            continue
        exc = loser.error
        if stale:
            assert isinstance(exc, StaleObject), f"{where}: a stale racer got {type(exc).__name__}: {exc}"
        assert exc.http_status == 409, f"{where}: {type(exc).__name__} is not a 409"
        assert exc.state == state, f"{where}: the conflict names state {exc.state!r}, not {state!r}"
        label = dict(type(exc.obj)._meta.get_field("state").flatchoices).get(state, state)  # messages show labels
        assert f"state “{label}”" in exc.message, f"{where}: the message does not name {label!r}: {exc.message}"
    return winners[0]


def fresh_decision(pk) -> Decision:
    """Load a decision as the portal does: with its approval, in one consistent snapshot."""
    return Decision.objects.select_related("approval", "signatory").get(pk=pk)


def _assert_global_invariants():
    result = verify_chains()
    assert result.ok, f"audit chains broken: {result.broken}"
    duplicated = list(Notification.objects.values("key").annotate(n=Count("id")).filter(n__gt=1)
                      .values_list("key", "n"))
    assert duplicated == [], f"notifications queued more than once: {duplicated}"


def _approved_plan(rnd, case, coordinator) -> Plan:
    """A plan of ``case`` in ``signing`` whose current approval every signatory approved."""
    plan = Plan.objects.create(case=case, vision="A regional cluster of food processors", governance="board")
    PlanAction.objects.create(plan=plan, position=1, measure="Joint export office", responsible="cluster board",
                              deadline=dt.date(2018, 6, 30), budget_kzt=Decimal("5000000"), kpi="exports",
                              kpi_target=Decimal(12), kpi_unit="%")
    perform(plan, "submit_for_review", actor=coordinator)
    approval = send_for_signing(plan=plan, actor=coordinator)
    for decision in approval.decisions.order_by("position"):
        sign(decision=decision, actor=decision.signatory, approve=True)
    approval.refresh_from_db()
    plan.refresh_from_db()
    assert (plan.state, approval.state) == ("signing", "approved")
    return plan


# -- 1 + 2: at least 200 races on one transition or one decision ----------------------------------

def test_each_transition_race_has_exactly_one_winner(tmp_path, racer):
    rnd = _import_round(tmp_path, "RACE-T")
    coordinator = ensure_user("race-coordinator", roles.COORDINATOR)
    case = rnd.cases.get(number="A1")
    impl = Implementation.objects.create(case=case, started_on=dt.date(2018, 1, 1))
    chain = case.ref
    loaded_late = losers = 0
    conflicts = collections.Counter()
    for n, k in zip(range(TRANSITION_RACES), itertools.cycle(RACERS)):
        transition, target = ("suspend", "suspended") if n % 2 == 0 else ("resume", "active")
        before = _audit_of(impl).count()
        # Half the races load before the barrier (every loser is stale: StaleObject), half after
        # it (a loser may see the winner's commit first: TransitionNotAllowed).
        late = (n // 2) % 2 == 1
        loaded_late += late
        losers += k - 1

        def load(i):
            return None if late else Implementation.objects.select_related("case").get(pk=impl.pk)

        def act(i, obj):
            obj = obj or Implementation.objects.select_related("case").get(pk=impl.pk)
            return perform(obj, transition, actor=coordinator, comment=f"race {n}")

        outcomes = racer.race(k, act, load)
        where = f"race {n} ({transition}, {k} connections)"
        _assert_one_winner(outcomes, target, where, stale=not late)
        conflicts.update(type(o.error).__name__ for o in outcomes if not o.won)
        impl.refresh_from_db()
        assert impl.state == target, where
        assert _audit_of(impl).count() == before + 1, f"{where}: not exactly one audit entry"
        last = _audit_of(impl).order_by("-seq").first()
        assert (last.transition, last.to_state, last.comment) == (transition, target, f"race {n}"), where
    assert loaded_late > 0
    assert conflicts["StaleObject"] > 0, conflicts  # the optimistic lock really stopped someone
    assert sum(conflicts.values()) == losers
    assert verify_chains([chain]).ok
    _assert_global_invariants()


def test_each_approval_race_has_exactly_one_winner(tmp_path, racer):
    rnd = _import_round(tmp_path, "RACE-A")
    case = rnd.cases.get(number="A2")
    coordinator = ensure_user("race-coordinator", roles.COORDINATOR)
    author = ensure_user("race-author", roles.COORDINATOR)
    signer = ensure_user("race-signatory", roles.SIGNATORY)
    deputies = [ensure_user(f"race-deputy{i}", roles.SIGNATORY) for i in range(1, MAX_WORKERS)]
    today = timezone.localdate()
    for deputy in deputies:
        delegate(owner=signer, deputy=deputy, starts_on=today - dt.timedelta(days=1),
                 ends_on=today + dt.timedelta(days=1), actor=coordinator, reason="race test")
    deciders = [signer, *deputies]  # everyone who may decide for the signatory

    for n, k in zip(range(APPROVAL_RACES), itertools.cycle(RACERS)):
        approval = request_approval(
            subject=case, sha256=f"{n:064x}", version=1, key=f"race:{n}", chain=case.ref, title=f"Race {n}",
            author=author, signatories=[Signatory(signer, "Chair", "Atameken")], actor=coordinator)
        decision = approval.decisions.get()
        actors = [deciders[(n + i) % len(deciders)] for i in range(k)]  # k different people
        late = (n // 2) % 2 == 1

        def load(i):
            return None if late else fresh_decision(decision.pk)

        def act(i, fresh):
            fresh = fresh or fresh_decision(decision.pk)
            return decide(decision=fresh, actor=actors[i], approve=True, comment=f"race {n}")

        outcomes = racer.race(k, act, load)
        where = f"approval race {n} ({k} connections)"
        winner = _assert_one_winner(outcomes, "approved", where, stale=not late)
        decision.refresh_from_db()
        approval.refresh_from_db()
        assert (decision.state, approval.state) == ("approved", "approved"), where
        assert decision.decided_by_id == winner.result.decided_by_id, where
        recorded = Notification.objects.filter(key=f"decision:{decision.pk}:approved")
        assert list(recorded.values_list("kind", flat=True)) == ["decision_recorded"], where
        concluded = Notification.objects.filter(key=f"approval:{approval.pk}:approved")
        assert list(concluded.values_list("kind", flat=True)) == ["approval_approved"], where
        decided = _audit_of(decision).filter(transition="approve")
        assert decided.count() == 1, f"{where}: {decided.count()} audit entries of the decision"
        entry = decided.get()
        expected_behalf = "" if entry.actor_id == signer.pk else signer.username
        assert entry.on_behalf_of_username == expected_behalf, where
        assert _audit_of(approval).filter(transition="approve").count() == 1, where
    _assert_global_invariants()


def test_concurrent_signatories_conclude_the_approval_exactly_once(tmp_path, racer):
    """All-of, two signatories deciding at the same moment: the approval is concluded once.

    Under READ COMMITTED each decision's transaction could miss the other's uncommitted
    decision and leave the approval open for ever; the audit chain's head lock (taken before
    the conclusion) orders them, so the second sees the first and concludes.
    """
    rnd = _import_round(tmp_path, "RACE-S")
    case = rnd.cases.get(number="A3")
    coordinator = ensure_user("race-coordinator", roles.COORDINATOR)
    author = ensure_user("race-author", roles.COORDINATOR)
    signers = [ensure_user(f"race-signer{i}", roles.SIGNATORY) for i in range(1, 5)]
    for n, k in zip(range(14), itertools.cycle(range(2, 5))):
        approval = request_approval(
            subject=case, sha256=f"{n:064x}", version=1, key=f"both:{n}", chain=case.ref, title=f"Both {n}",
            author=author, signatories=[Signatory(s) for s in signers[:k]], actor=coordinator)
        decisions = list(approval.decisions.order_by("position"))

        def load(i):
            return fresh_decision(decisions[i].pk)

        def act(i, fresh):
            return decide(decision=fresh, actor=fresh.signatory, approve=True)

        outcomes = racer.race(k, act, load)
        assert all(o.won for o in outcomes), "\n".join(o.trace for o in outcomes)
        approval.refresh_from_db()
        where = f"race {n} ({k} signatories)"
        assert approval.state == "approved", f"{where}: every signatory approved, yet the approval is {approval.state}"
        assert Notification.objects.filter(key=f"approval:{approval.pk}:approved").count() == 1, where
        assert _audit_of(approval).filter(transition="approve").count() == 1, where
    _assert_global_invariants()


# -- 3: two coordinators approve the same plan within 50 ms ----------------------------------------

def test_two_coordinators_approve_the_same_plan_within_50_ms(tmp_path, racer):
    rnd = _import_round(tmp_path, "RACE-P")
    actors = ensure_cycle_actors(rnd)
    coordinators = [actors.coordinator, ensure_user("race-coordinator2", roles.COORDINATOR)]
    for number in ("A1", "A2", "A3"):
        plan = _approved_plan(rnd, rnd.cases.get(number=number), actors.coordinator)
        before = _audit_of(plan).count()

        def load(i):
            return Plan.objects.select_related("case").get(pk=plan.pk)

        def act(i, fresh):
            return perform(fresh, "approve", actor=coordinators[i], comment=f"coordinator {i + 1}")

        outcomes = racer.race(2, act, load)
        spread = abs(outcomes[0].started - outcomes[1].started)
        assert spread < WINDOW, f"the two approvals started {spread * 1000:.1f} ms apart, not within 50 ms"
        winner = _assert_one_winner(outcomes, "approved", f"plan of {number}", stale=True)
        loser = next(o for o in outcomes if not o.won)
        assert loser.error.http_status == 409
        plan.refresh_from_db()
        assert plan.state == "approved"
        entries = _audit_of(plan).filter(transition="approve")
        assert _audit_of(plan).count() == before + 1 and entries.count() == 1
        winner_index = outcomes.index(winner)
        entry = entries.get()  # the winner's entry, and only the winner's
        assert (entry.actor_id, entry.comment) == (coordinators[winner_index].pk, f"coordinator {winner_index + 1}")
    _assert_global_invariants()


# -- 4: a case saved after another process already moved it on --------------------------------------

def test_a_stale_case_cannot_be_saved_after_another_connection_moved_it(tmp_path, racer):
    rnd = _import_round(tmp_path, "RACE-C")
    actors = ensure_cycle_actors(rnd)
    case = rnd.cases.get(number="A4")
    _approved_plan(rnd, case, actors.coordinator)
    plan = case.plan
    perform(plan, "approve", actor=actors.coordinator)
    # Set-up shortcut: put the case where a plan is approved (the stages before are not under test).
    Case.objects.filter(pk=case.pk).update(state=Case.State.PLANNING)
    before = _audit_of(case).count()
    loaded = threading.Barrier(2)
    moved = threading.Event()

    def load(i):
        return Case.objects.get(pk=case.pk)

    def act(i, mine):
        loaded.wait(timeout=30)  # both connections hold the case in 'planning'
        if i == 0:  # process A: moves the case on and commits
            try:
                return perform(mine, "suspend", actor=actors.coordinator, comment="cluster dissolved")
            finally:
                moved.set()
        assert moved.wait(timeout=30)  # process B: saves its stale instance afterwards
        assert mine.state == Case.State.PLANNING  # still the old state in memory
        return perform(mine, "advance_to_support", actor=actors.coordinator)

    first, second = racer.race(2, act, load)
    assert first.won and first.result.state == "suspended"
    assert isinstance(second.error, StaleObject), f"{second!r}\n{second.trace}"
    assert second.error.http_status == 409
    assert second.error.state == "suspended"
    assert "now in state “suspended”" in second.error.message, second.error.message
    case.refresh_from_db()
    assert case.state == "suspended"  # the row keeps A's state
    entries = list(_audit_of(case).order_by("seq").values_list("transition", flat=True))
    assert len(entries) == before + 1 and entries[-1] == "suspend"
    _assert_global_invariants()
