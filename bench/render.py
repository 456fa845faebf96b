"""Render speed: Kelisim's cached renderer against a plain docxtpl render (part of ``make bench``).

:func:`render_figures` renders the same mix of documents (every kind in every language, lists
of :data:`ROWS` rows) twice in one run:

* plain docxtpl, the way a naive service does it: ``DocxTemplate(path)`` opened for every
  document, ``render(context, autoescape=True)``, ``save()`` (``documents.render.render_plain``);
* Kelisim's renderer (``documents.render.render_template``): templates read, patched and
  compiled once per file, untouched zip members copied as they are.

Before timing, both renderers render every kind in every language and their outputs must give
the same text (python-docx: paragraphs, table cells, headers, footers); a difference raises
``AssertionError``. Figures: ``render_docs_per_s``, ``plain_docxtpl_docs_per_s``,
``render_speedup`` (the ratio; goal >= 3) and ``render_outputs_validated`` (documents compared).
The compile of each template (once per process) happens in the validation, outside the timing.

Needs no database: ``.venv/bin/python -m bench.render [--docs N]`` prints the figures alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

LANGS = ("ru", "kk", "en")
KINDS = ("application_receipt", "score_sheet", "selection_minutes", "decision_notice", "diagnosis_report",
         "development_plan", "approval_sheet", "support_coordination_sheet", "monitoring_report",
         "training_attendance_list", "training_certificate", "briefing_note")
#: Rows of every table list in the benchmark's documents.
ROWS = 12
NAME = "R&D «Қарағанды машина жасау кластері» <pilot>"


def context(kind: str, rows: int = ROWS) -> dict:
    """A full context of ``kind`` (the contract of ``docs/documents.md``) with ``rows`` rows per list."""
    r = range(1, rows + 1)
    module = {"title": "Cluster management basics", "topic": "Six areas", "starts_on": "01.02.2018",
              "ends_on": "03.02.2018", "hours": 24}
    ctx = {
        "doc": {"number": "A1-PLN/2", "title": "Document", "date": "15.09.2017", "round_code": "TC-2017",
                "round_title": "Пилотный отбор кластеров 2017", "language": "ru"},
        "org": {"organiser": "Министерство индустрии", "operator": "АО «КИРИ»", "partner": "НПП «Атамекен»",
                "deciding_body": "Конкурсная комиссия", "legal_basis": "Приказ № 123 от 01.06.2017"},
        "case": {"ref": "TC-2017/A1", "name": NAME, "region": "Карагандинская область", "city": "Караганда",
                 "sector": "Машиностроение"},
    }
    extra = {
        "application_receipt": {"application": {"ref": "A1", "name": NAME, "region": "Қарағанды", "city": "Караганда",
                                                "sector": "Машиностроение", "anchor_enterprises": 3, "smes": 42,
                                                "employees": 3150, "export_share_pct": "12,5",
                                                "research_partners": 2, "submitted_at": "01.08.2017 10:15"},
                                "received_by": "Иванов И.И."},
        "score_sheet": {"expert": {"name": "Ахметов А.А."}, "application": {"ref": "A1", "name": NAME},
                        "total": "78,50",
                        "scores": [{"code": f"C{i}", "title": f"Критерий {i}", "weight": "10", "value": 7,
                                    "weighted": "7,0", "comment": f"employees / 300 = {i}.00\nsecond line"}
                                   for i in r]},
        "selection_minutes": {"pass_mark": "60", "max_selected": 5,
                              "ranking": [{"rank": i, "ref": f"A{i}", "name": f"{NAME} {i}", "score": "78,5",
                                           "decision": "отобрана", "flag": ""} for i in r],
                              "refused": [{"ref": f"A{i}", "name": f"Кластер {i}", "reason": "неполный пакет"}
                                          for i in r],
                              "participants": [{"name": f"Участник {i}", "role": "Член комиссии"} for i in r]},
        "decision_notice": {"application": {"ref": "A1", "name": NAME}, "decision": "отобрана",
                            "reason": "Балл выше проходного", "score": "78,50", "rank": "1"},
        "diagnosis_report": {"overall_pct": "62,5", "assessors": "KIID, Atameken",
                             "areas": [{"number": i, "area": f"Направление {i}", "score_pct": "65",
                                        "finding": "Вывод & <примечание>"} for i in r]},
        "development_plan": {"vision": "Видение\nвторая строка", "governance": "Совет кластера",
                             "total_budget_kzt": "53\u00a0000\u00a0000,00",
                             "actions": [{"number": i, "measure": f"Мероприятие {i}", "responsible": "Оператор",
                                          "deadline": "31.03.2018", "budget_kzt": "12\u00a0000\u00a0000,00",
                                          "kpi": "Новые рабочие места", "target": "25 чел."} for i in r]},
        "approval_sheet": {"subject": {"title": "План развития", "version": 2, "sha256": "ab" * 32},
                           "outcome": "согласовано",
                           "decisions": [{"number": i, "role": "Подписант", "organisation": "АО «КИРИ»",
                                          "name": f"Лицо {i}", "decision": "согласовано", "date": "01.09.2017",
                                          "comment": ""} for i in r]},
        "support_coordination_sheet": {"measure": {"title": "Возмещение затрат", "amount_kzt": "60\u00a0000\u00a0000,00",
                                                   "reimbursement_pct": "75", "legal_basis": "Постановление № 1"},
                                       "outcome": "согласовано",
                                       "positions": [{"number": i, "body": "Акимат", "position": "согласовано",
                                                      "date": "01.09.2017", "comment": "Без замечаний"} for i in r]},
        "monitoring_report": {"period": {"year": 2018, "quarter": 1}, "summary": "План выполняется.",
                              "kpis": [{"number": i, "kpi": f"Показатель {i}", "target": "100", "actual": "25",
                                        "pct": "25"} for i in r]},
        "training_attendance_list": {"module": module, "registered": rows, "attended": rows,
                                     "attendees": [{"number": i, "name": f"Қатысушы {i}", "organisation": "ТОО «Өнім»",
                                                    "cluster": NAME, "attended": "present"} for i in r]},
        "training_certificate": {"module": module, "participant": {"name": "Әбілқасым Ғалия", "organisation": "ТОО",
                                                                   "cluster": NAME}},
        "briefing_note": {"note": {"addressee": "Совет", "title": "Итоги отбора", "body": "Строка 1\nСтрока 2",
                                   "partner_comments": "Поддерживаем."},
                          "clusters": [{"number": i, "ref": f"A{i}", "name": NAME, "region": "Қарағанды",
                                        "score": "78,5", "stage": "реализация"} for i in r]},
    }[kind]
    ctx.update(extra)
    return ctx


def _mix(n: int) -> list[tuple[Path, dict]]:
    from documents.render import template_path

    jobs = [(template_path(kind, lang), context(kind)) for lang in LANGS for kind in KINDS]
    return [jobs[i % len(jobs)] for i in range(n)]


def validate() -> int:
    """Render every kind in every language with both renderers; their texts must be equal.
    Returns the number of documents compared; raises ``AssertionError`` on a difference."""
    from documents.render import document_text, render_plain, render_template, template_path

    compared = 0
    for lang in LANGS:
        for kind in KINDS:
            path, ctx = template_path(kind, lang), context(kind)
            fast, plain = document_text(render_template(path, ctx)), document_text(render_plain(path, ctx))
            assert fast == plain, f"{lang}/{kind}: the renderers disagree"
            assert NAME in fast or kind in ("selection_minutes",), f"{lang}/{kind}: value missing"
            compared += 1
    return compared


def render_figures(docs: int = 360) -> dict:
    """Validate, then time ``docs`` documents with each renderer; return the figures."""
    from documents.render import render_plain, render_template

    compared = validate()
    jobs = _mix(docs)
    start = time.perf_counter()
    for path, ctx in jobs:
        render_plain(path, ctx)
    plain_s = time.perf_counter() - start
    start = time.perf_counter()
    for path, ctx in jobs:
        render_template(path, ctx)
    fast_s = time.perf_counter() - start
    return {
        "render_docs_per_s": round(docs / fast_s, 1),
        "plain_docxtpl_docs_per_s": round(docs / plain_s, 1),
        "render_speedup": round(plain_s / fast_s, 1),
        "render_outputs_validated": compared,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=360, help="documents per renderer")
    args = parser.parse_args(argv)
    print(json.dumps(render_figures(args.docs), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
