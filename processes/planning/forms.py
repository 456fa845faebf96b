"""Drafting a development plan: the limits, checks and writes shared by the API
(``/api/plans/``, ``api/stages.py``) and the case page's form (``/cases/<pk>/plan/``,
``processes/portal/stages.py``).

The rules: a plan is created for a case in the planning stage (once), ``drafting``, by a
coordinator (audited ``created`` with its content); its vision, governance and actions are
changed only while it is :data:`EDITABLE` (``drafting`` or ``revision_requested``; audited
``content_changed``). An action has a measure (at most 4000 characters), a responsible body
(300), a deadline (a calendar date), a budget in KZT (0 to :data:`MAX_KZT`, at most 2 decimals:
the column holds tenge with tiyn), a KPI (300), its target (0 to :data:`MAX_TARGET`, 2
decimals) and an optional unit (50); a plan has at most :data:`MAX_ACTIONS` actions, numbered
1.. in the given order.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal

from django.utils.translation import gettext as _

from workflow.tasks import follow_up

from processes.stages import StageInvalid, audit_content, parse_date, parse_decimal, parse_text, show_date, \
    show_decimal

from .models import Plan, PlanAction

#: Largest KZT amount accepted: 15 significant digits, 2 after the point. The columns are
#: declared with 16 digits, but SQLite (the embedded default) keeps a decimal as a REAL that
#: holds 15 significant digits exactly: 12 345 678 901 234,56 was read back ...234,60 and
#: 99 999 999 999 999,99 became 1e14, which Django's reader refuses (a 500 on every read).
#: Every amount up to this one is stored and read back exactly on SQLite and PostgreSQL
#: (tests/processes/test_exact_amounts.py); ten trillion tenge is far above any plan action or
#: support measure. (Storing integer tiyn would lift it, but change the columns and every reader.)
MAX_KZT = Decimal("9999999999999.99")
#: Largest KPI target (14 digits, 2 after the point; within SQLite's 15 exact digits).
MAX_TARGET = Decimal("999999999999.99")
#: The most actions a plan may have.
MAX_ACTIONS = 100
#: The longest vision or governance text (characters).
MAX_PLAN_TEXT = 20000
#: The longest value of each text field of an action (characters).
ACTION_TEXT = {"measure": 4000, "responsible": 300, "kpi": 300, "kpi_unit": 50}
#: The states in which a plan's content may change.
EDITABLE = (Plan.State.DRAFTING, Plan.State.REVISION_REQUESTED)
#: The fields of an action, in the order of the form's columns.
ACTION_FIELDS = ("measure", "responsible", "deadline", "budget_kzt", "kpi", "kpi_target", "kpi_unit")


def write_plan(plan: Plan, body: dict) -> dict:
    """Apply ``body`` (``vision``, ``governance``, ``actions``: checked values) to ``plan``;
    ``actions`` replaces every action, numbered 1.. in order. Returns the audit entry's data
    (what was given, amounts and dates as text)."""
    changed = {}
    for field in ("vision", "governance"):
        if field in body:
            setattr(plan, field, body[field])
            changed[field] = body[field]
    plan.save(update_fields=[f for f in ("vision", "governance") if f in body] or None)
    if "actions" in body:
        plan.actions.all().delete()
        PlanAction.objects.bulk_create([PlanAction(plan=plan, position=i, **a) for i, a in enumerate(body["actions"], 1)])
        changed["actions"] = [{k: str(v) for k, v in a.items()} for a in body["actions"]]
    return changed


def create_plan(*, case, body: dict, actor) -> Plan:
    """Create ``case``'s plan (``drafting``; the task "Draft the development plan" opens) with
    ``body`` (see :func:`write_plan`) and audit it as ``created``. The caller has checked the
    stage and the role and holds the case's row lock."""
    plan = Plan.objects.create(case=case)
    data = write_plan(plan, body)
    follow_up(plan)
    audit_content(plan, "created", actor, data)
    return plan


def update_plan(*, plan: Plan, body: dict, actor) -> Plan:
    """Change an editable plan (the caller holds its row lock and checked :data:`EDITABLE`)
    with ``body`` and audit it as ``content_changed``."""
    audit_content(plan, "content_changed", actor, write_plan(plan, body))
    return plan


def fingerprint(plan: Plan | None) -> str:
    """A short digest of ``plan``'s state and content (empty for no plan): a form posts the
    one it was shown, and a different one now means somebody changed the plan meanwhile."""
    if plan is None:
        return ""
    actions = [[str(getattr(a, f)) for f in ACTION_FIELDS] for a in plan.actions.order_by("position")]
    content = json.dumps([plan.state, plan.vision, plan.governance, actions], ensure_ascii=False)
    return hashlib.sha256(content.encode()).hexdigest()[:32]


def action_rows(plan: Plan | None, spare: int = 3) -> list[dict]:
    """The form's rows for ``plan``'s actions (``{"n": number, field: value as shown}``:
    dd.mm.yyyy, amounts without grouping) followed by ``spare`` empty rows, at most
    :data:`MAX_ACTIONS` in all."""
    rows = []
    for a in (plan.actions.order_by("position") if plan is not None else []):
        rows.append({"n": a.position, "measure": a.measure, "responsible": a.responsible, "deadline": show_date(a.deadline),
                     "budget_kzt": show_decimal(a.budget_kzt), "kpi": a.kpi,
                     "kpi_target": show_decimal(a.kpi_target), "kpi_unit": a.kpi_unit})
    return with_spare(rows, spare)


def with_spare(rows: list[dict], spare: int = 3) -> list[dict]:
    """``rows`` followed by ``spare`` empty rows numbered after them, at most :data:`MAX_ACTIONS`."""
    first = max((r["n"] for r in rows), default=0) + 1
    return rows + [dict.fromkeys(ACTION_FIELDS, "") | {"n": first + i}
                   for i in range(max(0, min(spare, MAX_ACTIONS - len(rows))))]


_ROW_KEY = re.compile(r"row-(\d{1,3})-([a-z_]{1,20})")


def posted_rows(post) -> list[dict]:
    """The action rows of a posted form (``row-<n>-<field>``) in the order of ``n``, as typed."""
    numbers = sorted({int(m.group(1)) for key in post if (m := _ROW_KEY.fullmatch(key))})
    return [{f: post.get(f"row-{n}-{f}", "") for f in ACTION_FIELDS} | {"n": n} for n in numbers]


def parse_plan(post) -> dict:
    """The plan the portal's form posts: ``{"vision", "governance", "actions": [...]}`` with
    typed values (dates, Decimals). A row left entirely empty is skipped; a row partly filled
    needs every field but the KPI unit. Budgets and targets accept grouping spaces and a
    decimal comma (``15 000 000,50``), deadlines ``dd.mm.yyyy`` or ``yyyy-mm-dd``. Raises
    :class:`~processes.stages.StageInvalid` naming every problem (``row-<n>-<field>``), an
    unknown field among them."""
    problems: dict[str, str] = {}
    for key in post:
        if key.startswith("row-") and not ((m := _ROW_KEY.fullmatch(key)) and m.group(2) in ACTION_FIELDS):
            problems[key[:40]] = _("unknown field")
    body = {"vision": parse_text(problems, "vision", post.get("vision"), limit=MAX_PLAN_TEXT, required=False),
            "governance": parse_text(problems, "governance", post.get("governance"), limit=MAX_PLAN_TEXT,
                                     required=False)}
    actions = []
    for row in posted_rows(post):
        n = row.pop("n")
        if not any(v.strip() for v in row.values()):
            continue
        action = {}
        for field in ("measure", "responsible", "kpi", "kpi_unit"):
            action[field] = parse_text(problems, f"row-{n}-{field}", row[field], limit=ACTION_TEXT[field],
                                       required=field != "kpi_unit")
        for field, high in (("budget_kzt", MAX_KZT), ("kpi_target", MAX_TARGET)):
            if not row[field].strip():
                problems[f"row-{n}-{field}"] = _("required")
                continue
            try:
                action[field] = parse_decimal(row[field], high=high)
            except ValueError as exc:
                problems[f"row-{n}-{field}"] = str(exc)
        if not row["deadline"].strip():
            problems[f"row-{n}-deadline"] = _("required")
        else:
            try:
                action["deadline"] = parse_date(row["deadline"])
            except ValueError as exc:
                problems[f"row-{n}-deadline"] = str(exc)
        actions.append({f: action.get(f) for f in ACTION_FIELDS})
    if len(actions) > MAX_ACTIONS:
        problems["actions"] = _("at most %(limit)s actions") % {"limit": MAX_ACTIONS}
    if problems:
        raise StageInvalid(problems)
    body["actions"] = actions
    return body
