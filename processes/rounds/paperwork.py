"""Building document contexts and generating a stage's Word documents.

Every template receives ``doc``, ``org`` and (except round-level papers) ``case``; each
stage adds its own keys (see ``documents/templates_src/build.py`` for the contract).
Amounts are formatted here, in KZT, for the document's language.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from documents.services import generate_document

TITLES = {
    "application_receipt": {"ru": "Расписка о приёме заявки", "kk": "Өтінімді қабылдау туралы қолхат",
                            "en": "Application receipt"},
    "score_sheet": {"ru": "Оценочный лист эксперта", "kk": "Сарапшының бағалау парағы", "en": "Expert score sheet"},
    "selection_minutes": {"ru": "Протокол ранжирования и отбора", "kk": "Саралау және іріктеу хаттамасы",
                          "en": "Ranking and selection minutes"},
    "decision_notice": {"ru": "Уведомление о решении", "kk": "Шешім туралы хабарлама", "en": "Decision notice"},
    "diagnosis_report": {"ru": "Отчёт о диагностике кластера", "kk": "Кластер диагностикасы туралы есеп",
                         "en": "Cluster diagnosis report"},
    "development_plan": {"ru": "План развития кластера", "kk": "Кластерді дамыту жоспары",
                         "en": "Cluster development plan"},
    "approval_sheet": {"ru": "Лист согласования", "kk": "Келісу парағы", "en": "Approval sheet"},
    "support_coordination_sheet": {"ru": "Лист согласования мер государственной поддержки",
                                   "kk": "Мемлекеттік қолдау шараларын келісу парағы",
                                   "en": "Support measure coordination sheet"},
    "monitoring_report": {"ru": "Квартальный отчёт о мониторинге", "kk": "Тоқсандық мониторинг есебі",
                          "en": "Quarterly monitoring report"},
    "training_attendance_list": {"ru": "Лист регистрации участников обучения",
                                 "kk": "Оқуға қатысушыларды тіркеу парағы", "en": "Training attendance list"},
    "training_certificate": {"ru": "Сертификат об обучении", "kk": "Оқу туралы сертификат",
                             "en": "Training certificate"},
    "briefing_note": {"ru": "Информационно-аналитическая справка", "kk": "Ақпараттық-талдамалық анықтама",
                      "en": "Briefing note"},
}

CODES = {"application_receipt": "RCP", "score_sheet": "SCR", "selection_minutes": "MIN", "decision_notice": "DEC",
         "diagnosis_report": "DGN", "development_plan": "PLN", "approval_sheet": "APR",
         "support_coordination_sheet": "SUP", "monitoring_report": "MON", "training_attendance_list": "ATT",
         "training_certificate": "CRT", "briefing_note": "BRF"}


#: Outcome words as they are printed in documents (state value -> text per language). The UI
#: uses the models' translated labels; documents keep their official wording here.
OUTCOMES = {
    "selected": {"ru": "отобрана", "kk": "іріктелді", "en": "selected"},
    "not_selected": {"ru": "не отобрана", "kk": "іріктелмеді", "en": "not selected"},
    "refused": {"ru": "отклонена", "kk": "қабылданбады", "en": "refused"},
    "approved": {"ru": "согласовано", "kk": "келісілді", "en": "approved"},
    "rejected": {"ru": "отклонено", "kk": "қабылданбады", "en": "rejected"},
    "pending": {"ru": "на рассмотрении", "kk": "қаралуда", "en": "pending"},
    "superseded": {"ru": "заменено новой редакцией", "kk": "жаңа редакциямен ауыстырылды", "en": "superseded"},
    "agreed": {"ru": "согласовано", "kk": "келісілді", "en": "agreed"},
    "objected": {"ru": "возражение", "kk": "қарсылық", "en": "objected"},
    "declined": {"ru": "не согласовано", "kk": "келісілмеді", "en": "declined"},
    "in_force": {"ru": "действует", "kk": "қолданыста", "en": "in force"},
}


#: Case stages as they are printed in documents (case state -> text per language).
STAGES = {
    "submission": {"ru": "подача заявки", "kk": "өтінім беру", "en": "submission"},
    "selection": {"ru": "конкурсный отбор", "kk": "конкурстық іріктеу", "en": "selection"},
    "diagnosis": {"ru": "диагностика", "kk": "диагностика", "en": "diagnosis"},
    "planning": {"ru": "разработка плана развития", "kk": "даму жоспарын әзірлеу", "en": "development planning"},
    "support": {"ru": "согласование мер поддержки", "kk": "қолдау шараларын келісу", "en": "support coordination"},
    "implementation": {"ru": "реализация плана", "kk": "жоспарды іске асыру", "en": "implementation"},
    "closed": {"ru": "завершён", "kk": "аяқталды", "en": "closed"},
    "suspended": {"ru": "приостановлен", "kk": "тоқтатылды", "en": "suspended"},
}


def stage_text(state: str, language: str) -> str:
    """The document wording of the case state ``state`` in ``language`` (the state itself if unknown)."""
    return STAGES.get(state, {}).get(language, state.replace("_", " "))


def outcome(state: str, language: str) -> str:
    """The document wording of the outcome ``state`` in ``language`` (the state itself if unknown)."""
    return OUTCOMES.get(state, {}).get(language, state.replace("_", " "))


def format_amount(value, language: str) -> str:
    """Format a KZT amount with two decimals: ``60 000 000,00`` (ru/kk) or ``60,000,000.00`` (en)."""
    text = f"{Decimal(value):,.2f}"
    if language in ("ru", "kk"):
        text = text.replace(",", "\u00a0").replace(".", ",")
    return text


def format_number(value, language: str) -> str:
    """Format a decimal number without trailing zeros, with the language's decimal separator."""
    value = Decimal(value)
    text = f"{value.normalize():f}" if value == value.to_integral() else f"{value:.2f}"
    return text.replace(".", ",") if language in ("ru", "kk") else text


def format_date(value, language: str) -> str:
    """Format a date as ``DD.MM.YYYY`` (ru/kk) or ``YYYY-MM-DD`` (en)."""
    return value.strftime("%d.%m.%Y") if language in ("ru", "kk") else value.isoformat()


def base_context(rnd, kind: str, language: str, *, case=None, key: str = "") -> dict:
    """The common keys ``doc``, ``org`` and ``case`` for a document of ``kind``."""
    owner = case.ref if case is not None else rnd.code
    from documents.models import Document

    existing = Document.objects.filter(owner_ref=owner, kind=kind, key=key, language=language).first()
    version = (existing.versions.count() if existing else 0) + 1
    number = f"{(case.number if case else rnd.code)}-{CODES.get(kind, kind.upper())}" + (f"-{key}" if key else "")
    context = {
        "doc": {"number": f"{number}/{version}", "title": TITLES[kind][language],
                "date": format_date(timezone.localdate(), language), "round_code": rnd.code,
                "round_title": rnd.title(language), "language": language},
        "org": {"organiser": rnd.organiser, "operator": rnd.operator, "partner": rnd.partner,
                "deciding_body": rnd.deciding_body, "legal_basis": rnd.legal_basis},
    }
    if case is not None:
        app = getattr(case, "application", None)
        context["case"] = {"ref": case.ref, "name": case.name(language), "region": app.region if app else "",
                           "city": app.city if app else "", "sector": app.sector if app else ""}
    return context


def generate(*, rnd, kind: str, stage: str, actor, context: dict, case=None, key: str = "", language: str | None = None):
    """Generate ``kind`` for ``case`` (or the round) in the case's language; return the version."""
    language = language or (case.language if case is not None else rnd.language)
    full = base_context(rnd, kind, language, case=case, key=key)
    full.update(context)
    owner = case.ref if case is not None else rnd.code
    title = TITLES[kind][language] + (f" {case.number}" if case is not None else f" {rnd.code}")
    return generate_document(owner_ref=owner, stage=stage, kind=kind, key=key, language=language,
                             title=title, context=full, actor=actor)
