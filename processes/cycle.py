"""Run the whole cooperation cycle of a round with scripted actors (``manage.py run_cycle``).

Every step acts as a real user with a real role through the same services and
``workflow.transitions.perform`` as the web UI, so permissions, conditions, documents and
audit entries are exactly those of a manual run. Each step looks at the current states and
does only what is still open, so a second run (or a run after an interruption) continues
instead of failing.

The scripted behaviour (how experts score, what a diagnosis finds, what a plan contains)
is illustrative and deterministic; it is documented next to each function below.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction

from workflow.tasks import follow_up
from workflow.transitions import perform

from processes.advisory import services as advisory
from processes.advisory.models import AdvisoryMaterial
from processes.diagnosis.models import Diagnosis
from processes.diagnosis.services import record_assessment
from processes.implementation.models import Implementation
from processes.implementation.services import submit_quarterly_report
from processes.planning.models import Plan, PlanAction
from processes.planning.services import conclude_signing, send_for_signing, sign
from processes.rounds.actors import CycleActors, ensure_cycle_actors
from processes.rounds.models import Case, Round
from processes.selection.models import ScoreSheet
from processes.selection.services import decide, open_scoring, submit_score_sheet
from processes.submission.models import Application
from processes.submission.services import (
    check_completeness,
    submit_application,
)
from processes.support.services import conclude_coordination, propose_measure, record_position
from processes.training.models import Attendance, TrainingModule
from processes.training.services import complete_module

# -- scripted experts --------------------------------------------------------------------------

#: How the scripted experts turn an application's figures into a raw 0..10 score per
#: criterion code of the 2017 sample (C1..C7). Each value is capped to 0..10.
SCORING_FORMULA = {
    "C1": ("employees / 300", lambda a: a.employees / 300),
    "C2": ("smes / 5", lambda a: a.smes / 5),
    "C3": ("export_share_pct / 3", lambda a: float(a.export_share_pct) / 3),
    "C4": ("4 x anchor_enterprises", lambda a: 4 * a.anchor_enterprises),
    "C5": ("2 x anchor_enterprises + research_partners + employees / 1000",
           lambda a: 2 * a.anchor_enterprises + a.research_partners + a.employees / 1000),
    "C6": ("2.5 x research_partners", lambda a: 2.5 * a.research_partners),
    "C7": ("3 x anchor_enterprises + employees / 1000", lambda a: 3 * a.anchor_enterprises + a.employees / 1000),
}


def expert_scores(application: Application, criteria, expert_index: int) -> dict[str, tuple[int, str]]:
    """Scores of the scripted expert number ``expert_index`` (1-based) for ``application``.

    The raw value of each criterion comes from :data:`SCORING_FORMULA`, capped to 0..10;
    expert 1 rounds it down, expert 2 rounds half up, so the two sheets differ slightly like
    real experts (never by more than 1 point). A criterion without a formula scores 5.
    Returns ``{criterion code: (score 0..10, comment)}``.
    """
    result = {}
    for criterion in criteria:
        label, formula = SCORING_FORMULA.get(criterion.code, ("default 5", lambda a: 5))
        raw = max(0.0, min(10.0, float(formula(application))))
        if expert_index == 1:
            value = math.floor(raw)
        else:
            value = int(Decimal(str(raw)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        result[criterion.code] = (value, f"{label} = {raw:.2f}")
    return result


# -- scripted diagnosis, plan, support and monitoring ---------------------------------------

def diagnosis_findings(application: Application, areas: list[str]) -> list[tuple[str, float, str]]:
    """Illustrative assessment of the six areas (0..100 each) from the application's figures."""
    a = application
    firms = a.anchor_enterprises + a.smes
    values = [
        min(100, 30 + firms),                               # structure of the cluster
        min(100, 40 + 10 * a.anchor_enterprises),           # management and governance
        min(100, 30 + a.employees / 100),                   # financing of cluster management
        min(100, 35 + 10 * a.research_partners),            # services
        min(100, 40 + a.smes / 2),                          # interaction within the cluster
        min(100, 20 + 2 * float(a.export_share_pct)),       # achievements and recognition
    ]
    findings = [
        f"{firms} firms mapped, {a.anchor_enterprises} anchor enterprises, {a.smes} SMEs",
        f"coordinating body led by {a.anchor_enterprises} anchor enterprise(s)",
        f"{a.employees} employees; co-financing to be agreed with members and the akimat",
        f"{a.research_partners} education and research partner(s) offer services",
        f"{a.smes} SMEs take part in joint activities",
        f"exports {a.export_share_pct}% of output",
    ]
    return [(areas[i] if i < len(areas) else f"area {i + 1}", round(values[i], 2), findings[i]) for i in range(6)]


PLAN_ACTIONS = {
    "ru": [
        ("Создание специализированной организации кластера", "Координирующий орган кластера",
         "Участники кластера с соглашениями об участии", "ед."),
        ("Совместное продвижение экспорта: торговые миссии и общий каталог", "Специализированная организация кластера",
         "Доля экспорта в объёме производства", "%"),
        ("Обучение работников участников кластера", "Партнёры в сфере образования", "Обученные работники", "чел."),
        ("Совместные проекты НИОКР с научными партнёрами", "Научные партнёры кластера",
         "Начатые совместные проекты", "ед."),
    ],
    "en": [
        ("Establish the cluster's specialised organisation", "Cluster coordinating body",
         "Members under participation agreements", "firms"),
        ("Joint export promotion: trade missions and a common catalogue", "Cluster organisation",
         "Export share of output", "%"),
        ("Training of members' employees", "Education partners", "Employees trained", "people"),
        ("Joint R&D projects with research partners", "Research partners", "Joint projects started", "projects"),
    ],
}
#: The scripted actors' own wording, in the case's language (Russian for languages without one).
SCRIPT_TEXTS = {
    "ru": {"vision": "{name}: конкурентоспособный кластер с экспортом за пределы Казахстана к {year} году.",
           "governance": "Наблюдательный совет из участников, акимата и АО «КИРИ»; специализированная организация "
                         "кластера.",
           "measure": "Возмещение затрат на содержание специализированной организации кластера",
           "akimat": "Акимат ({region})", "report": "Первый квартал: мероприятия начаты в соответствии с планом."},
    "en": {"vision": "{name}: a competitive cluster exporting beyond Kazakhstan by {year}.",
           "governance": "Supervisory board of members, the akimat and KIID; a specialised cluster organisation.",
           "measure": "Reimbursement of the costs of the cluster's specialised organisation",
           "akimat": "Akimat of {region}", "report": "First quarter: activities started as planned."},
}


def script_text(key: str, language: str, **values) -> str:
    """The scripted wording ``key`` in ``language`` (falls back to Russian), formatted with ``values``."""
    return SCRIPT_TEXTS.get(language, SCRIPT_TEXTS["ru"])[key].format(**values)


PLAN_BUDGETS_KZT = (Decimal("12000000"), Decimal("18000000"), Decimal("8000000"), Decimal("15000000"))


def plan_actions(application: Application, year: int, language: str) -> list[dict]:
    """Illustrative action plan for the year after the round: four actions, budgets in KZT."""
    texts = PLAN_ACTIONS.get(language, PLAN_ACTIONS["ru"])
    targets = (application.anchor_enterprises + application.smes, float(application.export_share_pct) + 5,
               application.employees // 10, application.research_partners * 2)
    deadlines = (dt.date(year, 3, 31), dt.date(year, 6, 30), dt.date(year, 9, 30), dt.date(year, 12, 31))
    return [{"position": i + 1, "measure": texts[i][0], "responsible": texts[i][1], "deadline": deadlines[i],
             "budget_kzt": PLAN_BUDGETS_KZT[i], "kpi": texts[i][2], "kpi_target": Decimal(str(targets[i])),
             "kpi_unit": texts[i][3]} for i in range(4)]


# -- the cycle ---------------------------------------------------------------------------------

class HumanWork(Exception):
    """The round holds work of real users that the scripted actors would have to do in their
    name; ``problems`` lists it (one line each). ``run_cycle`` refuses such a round."""

    def __init__(self, rnd: Round, problems: list[str]):
        self.round, self.problems = rnd, problems
        super().__init__(f"round {rnd.code} has work of real users: " + "; ".join(problems))


def human_work(rnd: Round, actors: CycleActors) -> list[str]:
    """What in ``rnd`` belongs to people rather than to the scripted actors (empty: none).

    The scripted cycle acts as its own users only (:class:`CycleActors`: ``applicant-<number>``
    for each case, ``expert1``/``expert2``), so a round is refused when it holds

    * a case whose applicant is somebody else (an application filed in the portal or the API);
    * a score sheet of another expert (assigned by a coordinator);
    * a draft score sheet with saved scores (an expert's work in progress, which the cycle
      would otherwise replace and submit in the expert's name).

    Returns one line per finding (at most 20).
    """
    from processes.selection.models import Score

    problems = []
    for case in rnd.cases.exclude(applicant=None).select_related("applicant").order_by("number"):
        scripted = f"applicant-{case.number.lower()}"
        if case.applicant.get_username() != scripted:
            problems.append(f"{case.ref} belongs to applicant {case.applicant.get_username()} (not {scripted})")
    experts = [e.pk for e in actors.experts]
    sheets = ScoreSheet.objects.filter(application__round=rnd).select_related("application__case", "expert")
    for sheet in sheets.exclude(expert_id__in=experts).order_by("pk"):
        problems.append(f"{sheet.application.case.ref} is scored by {sheet.expert.get_username()} "
                        f"(sheet {sheet.pk}, {sheet.state})")
    drafts = sheets.filter(expert_id__in=experts, state=ScoreSheet.State.DRAFT,
                           pk__in=Score.objects.values("sheet_id")).order_by("pk")
    for sheet in drafts:
        problems.append(f"{sheet.application.case.ref}: {sheet.expert.get_username()} has saved draft scores "
                        f"(sheet {sheet.pk})")
    return problems[:20]


@dataclasses.dataclass
class CycleResult:
    """The round after the run and its cases (for ``run_cycle``'s output)."""

    round: Round
    cases: list[Case]


class CycleRunner:
    """Drives one round through every stage with :class:`CycleActors`; see the module docstring."""

    def __init__(self, rnd: Round):
        self.round = rnd
        self.actors: CycleActors = ensure_cycle_actors(rnd)
        self.coordinator = self.actors.coordinator
        self.plan_year = (rnd.applications_close or dt.date.today()).year + 1

    def _round_step(self, state: str, transition: str) -> bool:
        self.round.refresh_from_db()
        if self.round.state == state:
            perform(self.round, transition, actor=self.coordinator)
            return True
        return False

    def run(self) -> CycleResult:
        """Run every open step of the cycle; return the round and its cases.

        Raises :class:`HumanWork` (before changing anything) when the round holds work of
        real users (:func:`human_work`): the scripted actors never act in a person's name.
        """
        problems = human_work(self.round, self.actors)
        if problems:
            raise HumanWork(self.round, problems)
        self._round_step("draft", "open_applications")
        self.submission()
        self._round_step("open", "close_applications")
        self.completeness_check()
        self._round_step("closed", "start_scoring")
        self.scoring()
        self._round_step("scoring", "start_discussion")  # computes the ranking (Round.after_transition)
        self.discussion()
        self._round_step("discussion", "decide")  # the ranking and selection minutes
        self._round_step("decided", "publish")  # a decision notice per scored application
        self.advance_selected()
        for case in self.round.cases.filter(state="diagnosis"):
            self.diagnosis(case)
        for case in self.round.cases.filter(state="planning"):
            self.planning(case)
        for case in self.round.cases.filter(state="support"):
            self.support(case)
        for case in self.round.cases.filter(state="implementation"):
            self.implementation(case)
        self.advisory_and_training()
        return CycleResult(self.round, list(self.round.cases.order_by("number")))

    # submission ------------------------------------------------------------------------
    def submission(self):
        for app in self.round.applications.filter(state="draft").select_related("case"):
            with transaction.atomic():
                applicant = self.actors.applicant_for(app.case)
                submit_application(application=app, actor=applicant)

    def completeness_check(self):
        # the same service as the inbox task, the API and the work page: an accepted case moves
        # on to selection, a refused one is refused; receipt and decision notice are generated
        # (processes.submission.services.completeness_decided)
        for app in self.round.applications.filter(state__in=["submitted", "resubmitted"]).select_related("case"):
            check_completeness(application=app, actor=self.coordinator)
        for app in self.round.applications.filter(state="accepted", case__state="selection", selection__isnull=True):
            open_scoring(application=app, experts=self.actors.experts)

    # selection -------------------------------------------------------------------------
    def scoring(self):
        criteria = list(self.round.criteria.all())
        experts = {e.pk: i for i, e in enumerate(self.actors.experts, 1)}
        sheets = ScoreSheet.objects.filter(application__round=self.round, state="draft").select_related(
            "application__case", "expert")
        for sheet in sheets:
            scores = expert_scores(sheet.application, criteria, experts.get(sheet.expert_id, 1))
            submit_score_sheet(sheet=sheet, scores=scores, actor=sheet.expert)
        for selection in self.round.selections.filter(state="scoring"):
            perform(selection, "complete_scoring", actor=self.coordinator)

    def discussion(self):
        for selection in self.round.selections.filter(state="scored"):
            perform(selection, "discuss", actor=self.actors.partner,
                    comment="Discussed jointly by the operator and the partner.")
        for selection in self.round.selections.filter(state="discussed").order_by("rank"):
            decide(selection=selection, actor=self.coordinator)

    def advance_selected(self):
        for case in self.round.cases.filter(state="selection").select_related("application__selection"):
            selection = getattr(case.application, "selection", None)
            if selection is None:
                continue
            if selection.state == "selected":
                perform(case, "advance_to_diagnosis", actor=self.coordinator)
            elif selection.state == "not_selected":
                from processes.reasons import DATA_KEY
                from processes.selection.selectors import decision_messages

                message = decision_messages([selection]).get(selection.pk)  # the reason, shown in the reader's language
                perform(case, "close_not_selected", actor=self.coordinator, comment=selection.decision_reason,
                        data={DATA_KEY: message} if message else None)

    # diagnosis -------------------------------------------------------------------------
    @transaction.atomic
    def diagnosis(self, case: Case):
        diagnosis, created = Diagnosis.objects.get_or_create(case=case, defaults={"assessors": "KIID, Atameken"})
        if created:
            follow_up(diagnosis)
        if diagnosis.state == "planned":
            perform(diagnosis, "start_fieldwork", actor=self.coordinator)
        if diagnosis.state == "fieldwork":
            record_assessment(diagnosis=diagnosis, areas=diagnosis_findings(case.application,
                                                                             self.round.diagnosis_areas),
                              actor=self.coordinator)
        if diagnosis.state == "draft_report":
            perform(diagnosis, "open_discussion", actor=self.coordinator)
        if diagnosis.state == "discussion":
            perform(diagnosis, "approve", actor=self.coordinator, comment="Results discussed with the cluster.")
        perform(case, "advance_to_planning", actor=self.coordinator)

    # planning --------------------------------------------------------------------------
    @transaction.atomic
    def planning(self, case: Case):
        lang = case.language
        plan, created = Plan.objects.get_or_create(case=case, defaults={
            "vision": script_text("vision", lang, name=case.name(lang), year=self.plan_year + 4),
            "governance": script_text("governance", lang)})
        if created:
            for action in plan_actions(case.application, self.plan_year, lang):
                PlanAction.objects.create(plan=plan, **action)
            follow_up(plan)
        if plan.state == "drafting":
            perform(plan, "submit_for_review", actor=self.coordinator)
        if plan.state in ("review", "resubmitted"):
            send_for_signing(plan=plan, actor=self.coordinator)
        if plan.state == "signing":
            approval = plan.current_approval
            for decision in approval.decisions.filter(state="pending").select_related("signatory").order_by("position"):
                sign(decision=decision, actor=decision.signatory, approve=True, comment="Approved.")
            conclude_signing(plan=plan, actor=self.coordinator)
        perform(case, "advance_to_support", actor=self.coordinator)

    # support ---------------------------------------------------------------------------
    @transaction.atomic
    def support(self, case: Case):
        measure = case.support_measures.exclude(state="declined").first()
        if measure is None:
            proposal = self.round.support_proposal
            application = case.application
            measure = propose_measure(
                case=case, title=script_text("measure", case.language),
                amount_kzt=Decimal(str(proposal.get("max_kzt_per_year", 60000000))),
                reimbursement_pct=Decimal(str(proposal.get("reimbursement_pct_years_1_2", 75))),
                legal_basis=self.round.support_act,
                bodies=[self.round.organiser or "Ministry",
                        script_text("akimat", case.language, region=application.region)],
                actor=self.coordinator)
        for position in measure.positions.filter(state="pending"):
            record_position(position=position, agrees=True, comment="Agreed by letter.", actor=self.coordinator)
        if measure.state == "coordination":
            conclude_coordination(measure=measure, actor=self.coordinator)
        perform(case, "advance_to_implementation", actor=self.coordinator)

    # implementation --------------------------------------------------------------------
    @transaction.atomic
    def implementation(self, case: Case):
        impl, created = Implementation.objects.get_or_create(case=case, defaults={
            "started_on": dt.date(self.plan_year, 1, 1)})
        if created:
            follow_up(impl)
        if impl.reports.exists():
            return
        actuals = {a.position: (a.kpi_target * Decimal("0.25")).quantize(Decimal("0.01"))
                   for a in case.plan.actions.all()}
        submit_quarterly_report(implementation=impl, year=self.plan_year, quarter=1, actuals=actuals,
                                summary=script_text("report", case.language), actor=self.coordinator)

    # alongside the cycle -----------------------------------------------------------------
    @transaction.atomic
    def advisory_and_training(self):
        if self.round.state != "published":
            return
        note, _ = AdvisoryMaterial.objects.get_or_create(
            round=self.round, kind=AdvisoryMaterial.Kind.BRIEFING_NOTE,
            defaults={"title": f"Briefing note on the results of {self.round.code}",
                      "body": "Selected pilot clusters.\nTheir diagnosis and development plans."})
        if note.state == "draft":  # the briefing note document, version 1
            advisory.circulate(material=note, actor=self.coordinator)
        if note.state == "circulated":
            perform(note, "comment", actor=self.actors.partner, comment="The partner supports the proposals.")
        if note.state == "commented":  # version 2, with the partner's comments
            advisory.finalise(material=note, actor=self.coordinator)
        module, _ = TrainingModule.objects.get_or_create(
            round=self.round, title="Cluster management basics",
            defaults={"topic": "Six areas of cluster management", "starts_on": dt.date(self.plan_year, 2, 1),
                      "ends_on": dt.date(self.plan_year, 2, 3)})
        if module.state == "planned":
            perform(module, "open_registration", actor=self.coordinator)
        if module.state == "open":
            for case in self.round.cases.filter(state__in=["implementation", "closed"]):
                Attendance.objects.get_or_create(module=module, participant=f"Manager of {case.number}",
                                                 defaults={"case": case, "organisation": case.name_en})
            perform(module, "start", actor=self.coordinator)
        if module.state == "in_progress":
            module.attendances.update(attended=True)
            complete_module(module=module, actor=self.coordinator)  # attendance list and certificates


def run_cycle(rnd: Round) -> CycleResult:
    """Run the cycle of ``rnd`` (see :class:`CycleRunner`); return the round and its cases."""
    return CycleRunner(rnd).run()


def case_summary(case: Case) -> dict:
    """The JSON shape of one case in ``run_cycle --format json``."""
    from documents.models import Document

    application = case.application
    selection = getattr(application, "selection", None)
    if application.state == "refused":
        decision = f"refused: {application.refusal_reason}"
    elif selection is not None and selection.state in ("selected", "not_selected"):
        decision = selection.state
    else:
        decision = ""
    documents = []
    for document in Document.objects.filter(owner_ref=case.ref).order_by("pk"):
        version = document.current_version
        if version is not None:
            documents.append({"kind": document.kind, "key": document.key, "language": document.language,
                              "version": version.number, "storage_key": version.storage_key,
                              "sha256": version.sha256, "size": version.size})
    return {"ref": case.ref, "name": case.name(), "state": case.state,
            "score": str(selection.score) if selection is not None and selection.score is not None else None,
            "rank": selection.rank if selection is not None else None, "decision": decision,
            "documents": documents}
