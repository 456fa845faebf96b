"""Import a round file (the JSON shape of ``samples/pilot-selection-2017.json``).

The file is validated completely before anything is written; the import then runs in one
transaction. Values may be plain or wrapped with provenance (``{"value": ..., "label":
"real", "source": "S3"}``); labels are kept in ``Round.source``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from workflow import audit
from workflow.approvals.policy import ALL_OF, needed

from .actors import system_user
from .models import Criterion, Round, RoundSignatory

EXPIRY_RULES = Round.EXPIRY_RULES

TOP_LEVEL = {"about", "round", "criteria", "criteria_label", "applications", "documents_per_stage",
             "diagnosis_rubric", "reference_scores", "support_measure_proposal", "sources"}
ROUND_FIELDS = {"code", "title_en", "title_ru", "title_kk", "organiser", "operator", "partner", "deciding_body",
                "legal_basis", "support_act", "applications_open", "applications_close", "memorandum_signed",
                "min_pilot_clusters", "max_selected", "excluded_sectors", "pass_mark", "review_working_days",
                "calendar", "signatories", "language", "approval_policies", "expiry_rules"}
CRITERION_FIELDS = {"code", "title_en", "title_ru", "title_kk", "weight"}
APPLICATION_FIELDS = {"ref", "name_en", "name_ru", "name_kk", "region", "city", "sector", "status_label",
                      "members_named", "anchor_enterprises", "smes", "employees", "export_share_pct",
                      "research_partners", "label"}
COUNT_FIELDS = ("anchor_enterprises", "smes", "employees", "research_partners")
#: A round code and an application ref become parts of case references, audit chain keys,
#: URLs and storage keys: letters, digits, dot, dash and underscore only.
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$")
#: The largest count the database stores in every backend (a 32-bit signed integer).
MAX_COUNT = 2**31 - 1
#: Longest text per field, as the models define them.
TEXT_LIMITS = {"title_en": 300, "title_ru": 300, "title_kk": 300, "organiser": 300, "operator": 300,
               "partner": 300, "deciding_body": 300, "name_en": 300, "name_ru": 300, "name_kk": 300,
               "region": 200, "city": 200, "sector": 200, "role": 200, "organisation": 200}


class RoundFileError(ValueError):
    """The round file is malformed; ``problems`` lists every problem found (one line each)."""

    def __init__(self, path: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


@dataclasses.dataclass
class ImportResult:
    """What :func:`import_round` did: the round and whether anything was written."""

    round: Round
    created: bool
    cases: int


def _value(raw: Any) -> Any:
    if isinstance(raw, dict) and "value" in raw:
        return raw["value"]
    return raw


def _date(raw: Any, name: str, problems: list[str]) -> dt.date | None:
    value = _value(raw)
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"round.{name}: {value!r} is not an ISO date (YYYY-MM-DD)")
        return None


def _int(value: Any, where: str, problems: list[str], *, low: int = 0, high: int | None = None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{where}: {value!r} is not a whole number")
        return None
    if value < low or (high is not None and value > high):
        problems.append(f"{where}: {value} is outside {low}..{high if high is not None else 'inf'}")
        return None
    return value


def parse_round_file(path: str | Path) -> tuple[dict, str]:
    """Read and validate a round file; return ``(cleaned data, sha256 of its content)``.

    The content hash is taken over the parsed JSON in canonical form (sorted keys, compact),
    so re-indenting the file or changing line endings does not make it a different round.

    Raises :class:`RoundFileError` listing every problem: unreadable file, bad JSON,
    unknown field, missing or duplicate code/ref, criteria weights not summing to 100,
    an application without a name, counts that are not whole numbers >= 0.
    """
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise RoundFileError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from exc
    def no_duplicates(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r} in one object")
            seen[key] = value
        return seen

    try:
        doc = json.loads(raw_bytes.decode("utf-8-sig"), object_pairs_hook=no_duplicates)
    except UnicodeDecodeError as exc:
        raise RoundFileError(str(path), [f"not UTF-8 text: {exc}"]) from exc
    except json.JSONDecodeError as exc:
        raise RoundFileError(str(path), [f"bad JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]) from exc
    except ValueError as exc:  # from no_duplicates
        raise RoundFileError(str(path), [f"bad JSON: {exc}"]) from exc
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise RoundFileError(str(path), ["the file must hold one JSON object"])
    for key in sorted(set(doc) - TOP_LEVEL):
        problems.append(f"unknown field {key!r} at the top level")
    rnd = doc.get("round")
    if not isinstance(rnd, dict):
        problems.append("missing object 'round'")
        rnd = {}
    for key in sorted(set(rnd) - ROUND_FIELDS):
        problems.append(f"unknown field 'round.{key}'")
    code = _value(rnd.get("code"))
    if not code or not isinstance(code, str):
        problems.append("round.code is missing")
    elif not CODE_PATTERN.match(code):
        problems.append(f"round.code {code[:60]!r} must be 1-50 letters, digits, '.', '-' or '_' "
                        "(it becomes part of case references, URLs and storage keys)")
    language = _value(rnd.get("language", "ru")) or "ru"
    if language not in {code for code, _ in settings.LANGUAGES}:
        problems.append(f"round.language {language!r} is not one of " + ", ".join(c for c, _ in settings.LANGUAGES))
    for key, limit in TEXT_LIMITS.items():
        value = _value(rnd.get(key))
        if isinstance(value, str) and len(value) > limit:
            problems.append(f"round.{key} is longer than {limit} characters")
    for key in ("title_en", "title_ru"):
        if not _value(rnd.get(key)):
            problems.append(f"round.{key} is missing")
    max_selected = _int(_value(rnd.get("max_selected")), "round.max_selected", problems, low=1)
    min_pilot = _value(rnd.get("min_pilot_clusters", 0))
    min_pilot = _int(min_pilot, "round.min_pilot_clusters", problems) if min_pilot is not None else 0
    try:
        pass_mark = Decimal(str(_value(rnd.get("pass_mark"))))
        if not Decimal(0) <= pass_mark <= Decimal(100):
            problems.append(f"round.pass_mark: {pass_mark} is outside 0..100")
    except (InvalidOperation, TypeError):
        problems.append(f"round.pass_mark: {_value(rnd.get('pass_mark'))!r} is not a number")
        pass_mark = None
    excluded = _value(rnd.get("excluded_sectors", []))
    if not isinstance(excluded, list) or not all(isinstance(s, str) for s in excluded):
        problems.append("round.excluded_sectors must be a list of sector names")
        excluded = []
    limits = dict(_value(rnd.get("review_working_days", {})) or {})
    limits.pop("label", None)
    for step, days in limits.items():
        _int(days, f"round.review_working_days.{step}", problems, low=1)
    expiry_rules = _value(rnd.get("expiry_rules", {})) or {}
    if not isinstance(expiry_rules, dict):
        problems.append("round.expiry_rules must map a limit to a transition, e.g. {\"revision_reply\": \"lapse\"}")
        expiry_rules = {}
    expiry_rules = {k: v for k, v in expiry_rules.items() if k != "label"}
    for limit, transition_name in expiry_rules.items():
        allowed = EXPIRY_RULES.get(limit)
        if allowed is None:
            problems.append(f"round.expiry_rules.{limit}: no expiry rule exists for this limit (known: "
                            f"{', '.join(sorted(EXPIRY_RULES))})")
        elif transition_name not in allowed:
            problems.append(f"round.expiry_rules.{limit}: {transition_name!r} is not allowed (allowed: "
                            f"{', '.join(allowed)})")
        elif not limits.get(limit):
            problems.append(f"round.expiry_rules.{limit} needs round.review_working_days.{limit}")
    signatories = rnd.get("signatories", [])
    if not isinstance(signatories, list) or not signatories:
        problems.append("round.signatories must list at least one signatory (plans are signed by them)")
        signatories = []
    for i, sig in enumerate(signatories):
        if not isinstance(sig, dict) or not sig.get("role") or not sig.get("organisation"):
            problems.append(f"round.signatories[{i}] needs 'role' and 'organisation'")
        elif any(len(str(sig[k])) > TEXT_LIMITS[k] for k in ("role", "organisation")):
            problems.append(f"round.signatories[{i}]: role or organisation is longer than 200 characters")
    policies = _value(rnd.get("approval_policies", {})) or {}
    if not isinstance(policies, dict):
        problems.append("round.approval_policies must map a document kind to a policy")
        policies = {}
    for kind, rule in policies.items():
        where = f"round.approval_policies.{kind}"
        if not isinstance(rule, dict) or set(rule) - {"policy", "required", "veto"}:
            problems.append(f"{where} must be an object with policy, required and veto")
            continue
        try:
            needed(rule.get("policy", ALL_OF), rule.get("required"), max(len(signatories), 1))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
        if not isinstance(rule.get("veto", True), bool):
            problems.append(f"{where}.veto must be true or false")
    dates = {name: _date(rnd.get(name), name, problems)
             for name in ("applications_open", "applications_close", "memorandum_signed")}
    if dates["applications_open"] and dates["applications_close"] and \
            dates["applications_close"] < dates["applications_open"]:
        problems.append("round.applications_close is before round.applications_open")

    criteria = doc.get("criteria")
    if not isinstance(criteria, list) or not criteria:
        problems.append("'criteria' must be a non-empty list")
        criteria = []
    seen_codes: set[str] = set()
    total_weight = 0
    for i, crit in enumerate(criteria):
        if not isinstance(crit, dict):
            problems.append(f"criteria[{i}] is not an object")
            continue
        for key in sorted(set(crit) - CRITERION_FIELDS):
            problems.append(f"unknown field 'criteria[{i}].{key}'")
        ccode = crit.get("code")
        if not ccode or not isinstance(ccode, str):
            problems.append(f"criteria[{i}] has no code")
        elif not REF_PATTERN.match(ccode):
            problems.append(f"criteria[{i}].code {ccode[:30]!r} must be 1-20 letters, digits, '.', '-' or '_'")
        elif ccode in seen_codes:
            problems.append(f"criteria[{i}]: duplicate code {ccode!r}")
        seen_codes.add(ccode)
        if not crit.get("title_en") or not crit.get("title_ru"):
            problems.append(f"criteria[{i}] ({ccode}) needs title_en and title_ru")
        weight = _int(crit.get("weight"), f"criteria[{i}].weight ({ccode})", problems, high=100)
        total_weight += weight or 0
    if criteria and total_weight != 100:
        problems.append(f"criteria weights sum to {total_weight}, not 100")

    apps = doc.get("applications")
    if not isinstance(apps, list) or not apps:
        problems.append("'applications' must be a non-empty list")
        apps = []
    seen_refs: set[str] = set()
    for i, app in enumerate(apps):
        if not isinstance(app, dict):
            problems.append(f"applications[{i}] is not an object")
            continue
        ref = app.get("ref")
        where = f"applications[{i}]" + (f" ({ref})" if ref else "")
        for key in sorted(set(app) - APPLICATION_FIELDS):
            problems.append(f"unknown field {key!r} in {where}")
        if not ref or not isinstance(ref, str):
            problems.append(f"{where} has no ref")
        elif not REF_PATTERN.match(ref):
            problems.append(f"{where}: ref must be 1-20 letters, digits, '.', '-' or '_'")
        elif ref in seen_refs:
            problems.append(f"{where}: duplicate ref {ref!r}")
        seen_refs.add(ref)
        if not str(app.get("name_en") or "").strip():
            problems.append(f"{where} has no name (name_en)")
        for key in COUNT_FIELDS:
            if key in app:
                _int(app[key], f"{where}.{key}", problems, high=MAX_COUNT)
        for key, limit in TEXT_LIMITS.items():
            if isinstance(app.get(key), str) and len(app[key]) > limit:
                problems.append(f"{where}.{key} is longer than {limit} characters")
        if "export_share_pct" in app:
            share = app["export_share_pct"]
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 100:
                problems.append(f"{where}.export_share_pct: {share!r} is not a percentage 0..100")
    if problems:
        raise RoundFileError(str(path), problems)
    content_sha256 = hashlib.sha256(
        json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")).hexdigest()
    cleaned = {
        "round": {
            "code": code, "title_en": _value(rnd["title_en"]), "title_ru": _value(rnd["title_ru"]),
            "title_kk": _value(rnd.get("title_kk", "")) or "",
            **{k: str(_value(rnd.get(k, "")) or "") for k in ("organiser", "operator", "partner", "deciding_body",
                                                            "legal_basis", "support_act")},
            **dates,
            "min_pilot_clusters": min_pilot or 0, "max_selected": max_selected, "pass_mark": pass_mark,
            "excluded_sectors": excluded, "review_working_days": limits,
            "timezone": (rnd.get("calendar") or {}).get("timezone", "Asia/Almaty"),
            "language": language, "approval_policies": policies, "expiry_rules": expiry_rules,
        },
        "signatories": signatories,
        "criteria": criteria,
        "applications": apps,
        "diagnosis_areas": list((doc.get("diagnosis_rubric") or {}).get("areas", [])),
        "support_proposal": doc.get("support_measure_proposal") or {},
        "source": doc,
    }
    return cleaned, content_sha256


def import_round(path: str | Path, *, actor=None) -> ImportResult:
    """Import the round file at ``path``; idempotent for the same content.

    Returns an :class:`ImportResult`; ``created`` is False when the round already exists
    with the same file (nothing is written). Raises :class:`RoundFileError` for a malformed
    file or when a round with the same code exists with different content.
    """
    data, digest = parse_round_file(path)
    code = data["round"]["code"]
    existing = Round.objects.filter(code=code).first()
    if existing is not None:
        if existing.source_sha256 == digest:
            return ImportResult(existing, False, existing.cases.count())
        raise RoundFileError(str(path), [
            f"round {code} already exists from a different file (sha256 {existing.source_sha256[:12]}...); "
            "importing would change a running round"])
    actor = actor or system_user()
    with transaction.atomic():
        rnd = Round.objects.create(
            **data["round"], source_sha256=digest, source=data["source"],
            diagnosis_areas=data["diagnosis_areas"], support_proposal=data["support_proposal"],
        )
        for position, crit in enumerate(data["criteria"], 1):
            Criterion.objects.create(round=rnd, position=position, code=crit["code"], title_en=crit["title_en"],
                                     title_ru=crit["title_ru"], title_kk=crit.get("title_kk", ""),
                                     weight=crit["weight"])
        for position, sig in enumerate(data["signatories"], 1):
            RoundSignatory.objects.create(round=rnd, position=position, role=sig["role"],
                                          organisation=sig["organisation"])
        audit.append_entry(chain=rnd.audit_chain, actor=actor, object_type="rounds.round", object_id=str(rnd.pk),
                           object_repr=str(rnd), transition="imported", from_state="", to_state=rnd.state,
                           data={"file": Path(path).name, "sha256": digest, "applications": len(data["applications"])})
        from processes.submission.services import create_application

        for app in data["applications"]:
            create_application(round=rnd, values=app, actor=actor)
    return ImportResult(rnd, True, len(data["applications"]))
