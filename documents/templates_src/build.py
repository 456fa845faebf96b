#!/usr/bin/env python
"""Build the docxtpl Word templates of Kelisim.

Run from the repository root::

    .venv/bin/python documents/templates_src/build.py

It writes ``documents/docx/{lang}/{kind}.docx`` for every document kind and language,
plus ``documents/docx/VERSION`` holding :data:`TEMPLATE_VERSION` (the application records
it as the template version of every generated document). Output is deterministic: the
same builder produces byte-identical files, so a rebuild without changes leaves git clean.

Template rules (the app relies on them):

* placeholders are ``{{ var }}``, table row loops ``{%tr for r in LIST %}`` /
  ``{%tr endfor %}`` (each in its own row), paragraph loops ``{%p ... %}`` and inline
  ``{% if %}``; no filters -- the app passes strings/numbers that are already formatted;
* every placeholder and tag is written as one single run; a placeholder that Word later splits
  into several runs of one paragraph still renders (docxtpl's ``patch_xml`` joins it; the
  rendered value takes the formatting of the run holding ``{{``), see ``docs/documents.md``;
* multi-line values need nothing in the template: a ``\n`` in a value becomes a line break;
* every run uses :data:`FONT` (document defaults, all styles; no theme fonts);
* header: round code and document number; footer: document number and "page N of M"
  (PAGE / NUMPAGES fields); tables are numbered by a caption "Table N – ...";
* the variables used are exactly the context contract (see ``tests/documents/test_templates.py``
  and ``docs/documents.md``).

Bump :data:`TEMPLATE_VERSION` whenever the layout or wording changes.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from datetime import datetime
from pathlib import Path

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from lxml import etree

TEMPLATE_VERSION = "2017.2"

LANGS = ("ru", "kk", "en")
KINDS = (
    "application_receipt",
    "score_sheet",
    "selection_minutes",
    "decision_notice",
    "diagnosis_report",
    "development_plan",
    "approval_sheet",
    "support_coordination_sheet",
    "monitoring_report",
    "training_attendance_list",
    "training_certificate",
    "briefing_note",
)

OUT_DIR = Path(__file__).resolve().parent.parent / "docx"

#: The font of every template: metric-compatible with Times New Roman and has every Kazakh
#: letter (ә ғ қ ң ө ұ ү һ і). Debian ships it in ``fonts-liberation2`` (bookworm; in
#: ``fonts-liberation`` from trixie on); Word without it substitutes :data:`FONT_ALT_NAME`.
FONT = "Liberation Serif"
FONT_ALT_NAME = "Times New Roman"
BODY_PT = 12
TABLE_PT = 10
PAGE_W_CM, PAGE_H_CM = 21.0, 29.7
MARGIN_CM = 2.0
TEXT_W_CM = PAGE_W_CM - 2 * MARGIN_CM  # 17.0
FIXED_TIME = datetime(2017, 1, 1, 0, 0, 0)
ZIP_TIME = (2017, 1, 1, 0, 0, 0)
LANG_TAGS = {"ru": "ru-RU", "kk": "kk-KZ", "en": "en-GB"}

CENTER = WD_ALIGN_PARAGRAPH.CENTER
LEFT = WD_ALIGN_PARAGRAPH.LEFT
RIGHT = WD_ALIGN_PARAGRAPH.RIGHT
JUSTIFY = WD_ALIGN_PARAGRAPH.JUSTIFY

# --------------------------------------------------------------------------------------
# Labels. ``**text**`` is bold; ``{{ ... }}`` / ``{% ... %}`` become single runs.
# --------------------------------------------------------------------------------------

LABELS: dict[str, dict] = {
    "ru": {
        "page": "стр. {PAGE} из {NUMPAGES}",
        "table_caption": "Таблица {n} – {title}",
        "no": "№",
        "indicator": "Показатель",
        "value": "Значение",
        "attribute": "Реквизит",
        "operator_line": "Оператор: {{ org.operator }}{% if org.partner %}; партнёр: {{ org.partner }}{% endif %}",
        "round_line": "Конкурсный отбор «{{ doc.round_title }}»",
        "legal_basis": "**Основание:** {{ org.legal_basis }}",
        "case_name": "**Проект кластера:** {{ case.name }} (рег. № {{ case.ref }})",
        "case_place": "**Регион, город:** {{ case.region }}, {{ case.city }}",
        "case_sector": "**Отрасль:** {{ case.sector }}",
        "sig_caption": "(подпись)",
        "name_caption": "(Ф.И.О.)",
        "seal": "М.П.",
        "application_receipt": {
            "title": "Расписка о приёме заявки",
            "intro": "Настоящим подтверждается, что заявка на участие в конкурсном отборе «{{ doc.round_title }}» "
            "принята оператором ({{ org.operator }}) и зарегистрирована под номером {{ application.ref }}.",
            "table": "Сведения о заявке",
            "rows": [
                "Регистрационный номер заявки",
                "Наименование проекта кластера",
                "Регион",
                "Город",
                "Отрасль",
                "Якорные предприятия",
                "Количество субъектов МСП",
                "Численность занятых, чел.",
                "Доля экспорта, %",
                "Научно-исследовательские партнёры",
                "Дата и время подачи заявки",
            ],
            "note": "Расписка подтверждает только факт приёма заявки и не является решением о её допуске "
            "к конкурсному отбору.",
            "sig_received": "Заявку принял",
            "sig_applicant": "Расписку получил (заявитель)",
        },
        "score_sheet": {
            "title": "Оценочный лист эксперта",
            "expert": "**Эксперт:** {{ expert.name }}",
            "application": "**Заявка:** {{ application.ref }} – {{ application.name }}",
            "table": "Оценка заявки по критериям",
            "cols": ["№", "Код", "Критерий", "Вес", "Балл", "Взвешенный балл", "Комментарий"],
            "total": "**Итоговый взвешенный балл:** {{ total }}",
            "declaration": "Подписывая настоящий лист, эксперт подтверждает отсутствие конфликта интересов "
            "в отношении оцениваемой заявки и обязуется не разглашать сведения, ставшие ему известными "
            "в ходе экспертизы.",
            "sig": "Эксперт",
        },
        "selection_minutes": {
            "title": "Протокол об итогах конкурсного отбора",
            "deciding_body": "**Орган, принимающий решение:** {{ org.deciding_body }}",
            "pass_mark": "**Проходной балл:** {{ pass_mark }}",
            "max_selected": "**Максимальное количество отбираемых заявок:** {{ max_selected }}",
            "h_participants": "1. Присутствовали",
            "t_participants": "Состав участников заседания",
            "c_participants": ["№", "Ф.И.О.", "Роль"],
            "h_ranking": "2. Рейтинг заявок",
            "t_ranking": "Рейтинг заявок по итогам экспертной оценки",
            "c_ranking": ["Место", "Рег. номер", "Наименование проекта кластера", "Балл", "Решение", "Отметка"],
            "h_refused": "3. Заявки, не допущенные к оценке",
            "t_refused": "Заявки, отклонённые по итогам проверки на соответствие требованиям",
            "c_refused": ["№", "Рег. номер", "Наименование проекта кластера", "Причина отклонения"],
            "h_decision": "4. Решение",
            "decision": "Утвердить рейтинг заявок согласно таблице 2. Заявки, набравшие не менее {{ pass_mark }} "
            "баллов, признаются прошедшими конкурсный отбор в пределах не более {{ max_selected }} заявок; "
            "решение по каждой заявке указано в графе «Решение».",
            "h_signatures": "Подписи участников заседания:",
        },
        "decision_notice": {
            "title": "Уведомление о решении по заявке",
            "to": ["Заявителю проекта кластера", "«{{ case.name }}»", "{{ case.region }}, {{ case.city }}"],
            "body": "Настоящим уведомляем, что по итогам конкурсного отбора «{{ doc.round_title }}» по заявке "
            "№ {{ application.ref }} «{{ application.name }}» принято решение, указанное в таблице 1.",
            "deciding_body": "**Орган, принявший решение:** {{ org.deciding_body }}",
            "table": "Результаты рассмотрения заявки",
            "rows": ["Решение", "Итоговый балл", "Место в рейтинге", "Обоснование"],
            "appeal": "Решение может быть обжаловано в порядке, установленном законодательством "
            "Республики Казахстан.",
            "sig": "Уполномоченное лицо организатора",
        },
        "diagnosis_report": {
            "title": "Отчёт о диагностике кластера",
            "intro": "Диагностика проведена с целью оценки текущего уровня развития кластера по ключевым "
            "направлениям и определения приоритетов плана развития.",
            "table": "Результаты диагностики по направлениям",
            "cols": ["№", "Направление", "Оценка, %", "Выводы"],
            "overall": "**Общий уровень развития кластера, %:** {{ overall_pct }}",
            "assessors": "**Диагностику провели:** {{ assessors }}",
            "sig_assessor": "Эксперт",
            "sig_leader": "С отчётом ознакомлен: руководитель проекта кластера",
        },
        "development_plan": {
            "title": "План развития кластера",
            "h_vision": "1. Видение развития кластера",
            "h_governance": "2. Система управления кластером",
            "h_actions": "3. План мероприятий",
            "table": "План мероприятий по развитию кластера",
            "cols": ["№", "Мероприятие", "Ответственный", "Срок", "Бюджет, тенге", "KPI", "Целевое значение"],
            "total": "**Общий бюджет плана, тенге:** {{ total_budget_kzt }}",
            "sig_leader": "Руководитель проекта кластера",
            "sig_operator": "Согласовано: представитель оператора",
        },
        "approval_sheet": {
            "title": "Лист согласования",
            "t_subject": "Сведения о согласуемом документе",
            "rows": ["Наименование документа", "Версия", "Контрольная сумма SHA-256"],
            "t_decisions": "Результаты согласования",
            "cols": ["№", "Роль", "Организация", "Ф.И.О.", "Решение", "Дата", "Комментарий"],
            "outcome": "**Итог согласования:** {{ outcome }}",
            "note": "Лист согласования является неотъемлемой частью согласуемого документа указанной версии; "
            "любое изменение документа меняет его контрольную сумму и требует повторного согласования.",
        },
        "support_coordination_sheet": {
            "title": "Лист согласования меры государственной поддержки",
            "t_measure": "Сведения о мере поддержки",
            "rows": ["Наименование меры", "Сумма, тенге", "Доля возмещения, %", "Правовое основание"],
            "t_positions": "Позиции государственных органов",
            "cols": ["№", "Государственный орган", "Позиция", "Дата", "Комментарий"],
            "outcome": "**Итог согласования:** {{ outcome }}",
            "sig": "Представитель оператора",
        },
        "monitoring_report": {
            "title": "Отчёт о мониторинге реализации плана развития кластера",
            "period": "**Отчётный период:** {{ period.quarter }} квартал {{ period.year }} г.",
            "table": "Достижение ключевых показателей эффективности",
            "cols": ["№", "Показатель", "Целевое значение", "Фактическое значение", "Исполнение, %"],
            "h_summary": "Выводы",
            "sig_leader": "Руководитель проекта кластера",
            "sig_operator": "Представитель оператора",
        },
        "training_attendance_list": {
            "title": "Лист регистрации участников обучения",
            "t_module": "Сведения об обучающем модуле",
            "rows": ["Наименование модуля", "Тема", "Сроки проведения", "Продолжительность, академических часов"],
            "table": "Список участников обучения",
            "cols": ["№", "Ф.И.О.", "Организация", "Проект кластера", "Присутствие", "Подпись"],
            "totals": "**Зарегистрировано:** {{ registered }}; **присутствовали:** {{ attended }}",
            "sig_trainer": "Тренер",
            "sig_operator": "Представитель оператора",
        },
        "training_certificate": {
            "title": "Сертификат",
            "certify": "Настоящий сертификат удостоверяет, что",
            "completed": "прошёл(-ла) обучение по модулю «{{ module.title }}» ({{ module.topic }}) в период "
            "с {{ module.starts_on }} по {{ module.ends_on }} в объёме {{ module.hours }} академических часов "
            "в рамках конкурсного отбора «{{ doc.round_title }}».",
            "sig": "Руководитель оператора",
        },
        "briefing_note": {
            "title": "Информационно-аналитическая справка",
            "addressee": "**Для:** {{ note.addressee }}",
            "subject": "**Тема:** {{ note.title }}",
            "h_summary": "1. Суть вопроса",
            "h_clusters": "2. Проекты кластеров, отобранные по итогам конкурсного отбора",
            "table": "Отобранные проекты кластеров",
            "cols": ["№", "Рег. номер", "Наименование проекта кластера", "Регион", "Балл", "Текущий этап"],
            "h_partner": "3. Позиция партнёра",
            "sig": "Подготовил: представитель оператора",
        },
    },
    "kk": {
        "page": "{PAGE}-бет (барлығы {NUMPAGES})",
        "table_caption": "{n}-кесте – {title}",
        "no": "№",
        "indicator": "Көрсеткіш",
        "value": "Мәні",
        "attribute": "Деректеме",
        "operator_line": "Оператор: {{ org.operator }}{% if org.partner %}; серіктес: {{ org.partner }}{% endif %}",
        "round_line": "«{{ doc.round_title }}» конкурстық іріктеуі",
        "legal_basis": "**Негіздеме:** {{ org.legal_basis }}",
        "case_name": "**Кластер жобасы:** {{ case.name }} (тіркеу № {{ case.ref }})",
        "case_place": "**Өңір, қала:** {{ case.region }}, {{ case.city }}",
        "case_sector": "**Сала:** {{ case.sector }}",
        "sig_caption": "(қолы)",
        "name_caption": "(Т.А.Ә.)",
        "seal": "М.О.",
        "application_receipt": {
            "title": "Өтінімді қабылдау туралы қолхат",
            "intro": "Осы қолхат «{{ doc.round_title }}» конкурстық іріктеуіне қатысуға арналған өтінімді "
            "оператордың ({{ org.operator }}) қабылдағанын және оның {{ application.ref }} нөмірімен "
            "тіркелгенін растайды.",
            "table": "Өтінім туралы мәліметтер",
            "rows": [
                "Өтінімнің тіркеу нөмірі",
                "Кластер жобасының атауы",
                "Өңір",
                "Қала",
                "Сала",
                "Зәкірлік кәсіпорындар",
                "ШОБ субъектілерінің саны",
                "Жұмыспен қамтылғандар саны, адам",
                "Экспорт үлесі, %",
                "Ғылыми-зерттеу серіктестері",
                "Өтінім берілген күні мен уақыты",
            ],
            "note": "Қолхат өтінімнің қабылданғанын ғана растайды және оны конкурстық іріктеуге жіберу "
            "туралы шешім болып табылмайды.",
            "sig_received": "Өтінімді қабылдаған",
            "sig_applicant": "Қолхатты алған (өтініш беруші)",
        },
        "score_sheet": {
            "title": "Сарапшының бағалау парағы",
            "expert": "**Сарапшы:** {{ expert.name }}",
            "application": "**Өтінім:** {{ application.ref }} – {{ application.name }}",
            "table": "Өтінімді өлшемшарттар бойынша бағалау",
            "cols": ["№", "Коды", "Өлшемшарт", "Салмағы", "Балл", "Салмақталған балл", "Түсініктеме"],
            "total": "**Қорытынды салмақталған балл:** {{ total }}",
            "declaration": "Осы параққа қол қоя отырып, сарапшы бағаланатын өтінімге қатысты мүдделер "
            "қақтығысының жоқтығын растайды және сараптама барысында белгілі болған мәліметтерді "
            "жария етпеуге міндеттенеді.",
            "sig": "Сарапшы",
        },
        "selection_minutes": {
            "title": "Конкурстық іріктеу қорытындылары туралы хаттама",
            "deciding_body": "**Шешім қабылдайтын орган:** {{ org.deciding_body }}",
            "pass_mark": "**Өту балы:** {{ pass_mark }}",
            "max_selected": "**Іріктелетін өтінімдердің ең көп саны:** {{ max_selected }}",
            "h_participants": "1. Қатысқандар",
            "t_participants": "Отырысқа қатысушылардың құрамы",
            "c_participants": ["№", "Т.А.Ә.", "Рөлі"],
            "h_ranking": "2. Өтінімдер рейтингі",
            "t_ranking": "Сараптамалық бағалау қорытындысы бойынша өтінімдер рейтингі",
            "c_ranking": ["Орны", "Тіркеу нөмірі", "Кластер жобасының атауы", "Балл", "Шешім", "Белгі"],
            "h_refused": "3. Бағалауға жіберілмеген өтінімдер",
            "t_refused": "Талаптарға сәйкестігін тексеру қорытындысы бойынша қабылданбаған өтінімдер",
            "c_refused": ["№", "Тіркеу нөмірі", "Кластер жобасының атауы", "Қабылдамау себебі"],
            "h_decision": "4. Шешім",
            "decision": "Өтінімдер рейтингі 2-кестеге сәйкес бекітілсін. Кемінде {{ pass_mark }} балл жинаған "
            "өтінімдер {{ max_selected }} өтінімнен аспайтын шекте конкурстық іріктеуден өткен деп "
            "танылады; әрбір өтінім бойынша шешім «Шешім» бағанында көрсетілген.",
            "h_signatures": "Отырысқа қатысушылардың қолдары:",
        },
        "decision_notice": {
            "title": "Өтінім бойынша шешім туралы хабарлама",
            "to": ["«{{ case.name }}»", "кластер жобасының өтініш берушісіне", "{{ case.region }}, {{ case.city }}"],
            "body": "«{{ doc.round_title }}» конкурстық іріктеуінің қорытындысы бойынша № {{ application.ref }} "
            "«{{ application.name }}» өтінімі бойынша 1-кестеде көрсетілген шешім қабылданғанын хабарлаймыз.",
            "deciding_body": "**Шешім қабылдаған орган:** {{ org.deciding_body }}",
            "table": "Өтінімді қарау нәтижелері",
            "rows": ["Шешім", "Қорытынды балл", "Рейтингтегі орны", "Негіздеме"],
            "appeal": "Шешімге Қазақстан Республикасының заңнамасында белгіленген тәртіппен шағым "
            "жасалуы мүмкін.",
            "sig": "Ұйымдастырушының уәкілетті тұлғасы",
        },
        "diagnosis_report": {
            "title": "Кластерді диагностикалау туралы есеп",
            "intro": "Диагностика кластердің негізгі бағыттар бойынша қазіргі даму деңгейін бағалау және "
            "даму жоспарының басымдықтарын айқындау мақсатында жүргізілді.",
            "table": "Бағыттар бойынша диагностика нәтижелері",
            "cols": ["№", "Бағыт", "Бағалау, %", "Тұжырымдар"],
            "overall": "**Кластердің жалпы даму деңгейі, %:** {{ overall_pct }}",
            "assessors": "**Диагностиканы жүргізгендер:** {{ assessors }}",
            "sig_assessor": "Сарапшы",
            "sig_leader": "Есеппен таныстым: кластер жобасының басшысы",
        },
        "development_plan": {
            "title": "Кластерді дамыту жоспары",
            "h_vision": "1. Кластерді дамыту пайымы",
            "h_governance": "2. Кластерді басқару жүйесі",
            "h_actions": "3. Іс-шаралар жоспары",
            "table": "Кластерді дамыту жөніндегі іс-шаралар жоспары",
            "cols": ["№", "Іс-шара", "Жауапты", "Мерзімі", "Бюджеті, теңге", "Тиімділік көрсеткіші", "Нысаналы мәні"],
            "total": "**Жоспардың жалпы бюджеті, теңге:** {{ total_budget_kzt }}",
            "sig_leader": "Кластер жобасының басшысы",
            "sig_operator": "Келісілді: оператордың өкілі",
        },
        "approval_sheet": {
            "title": "Келісу парағы",
            "t_subject": "Келісілетін құжат туралы мәліметтер",
            "rows": ["Құжаттың атауы", "Нұсқасы", "SHA-256 бақылау сомасы"],
            "t_decisions": "Келісу нәтижелері",
            "cols": ["№", "Рөлі", "Ұйым", "Т.А.Ә.", "Шешім", "Күні", "Түсініктеме"],
            "outcome": "**Келісу қорытындысы:** {{ outcome }}",
            "note": "Келісу парағы көрсетілген нұсқадағы келісілетін құжаттың ажырамас бөлігі болып табылады; "
            "құжатқа енгізілген кез келген өзгеріс оның бақылау сомасын өзгертеді және қайта келісуді "
            "талап етеді.",
        },
        "support_coordination_sheet": {
            "title": "Мемлекеттік қолдау шарасын келісу парағы",
            "t_measure": "Қолдау шарасы туралы мәліметтер",
            "rows": ["Шараның атауы", "Сомасы, теңге", "Өтеу үлесі, %", "Құқықтық негізі"],
            "t_positions": "Мемлекеттік органдардың ұстанымдары",
            "cols": ["№", "Мемлекеттік орган", "Ұстанымы", "Күні", "Түсініктеме"],
            "outcome": "**Келісу қорытындысы:** {{ outcome }}",
            "sig": "Оператордың өкілі",
        },
        "monitoring_report": {
            "title": "Кластерді дамыту жоспарының іске асырылуын мониторингтеу туралы есеп",
            "period": "**Есепті кезең:** {{ period.year }} жылғы {{ period.quarter }}-тоқсан",
            "table": "Негізгі тиімділік көрсеткіштеріне қол жеткізу",
            "cols": ["№", "Көрсеткіш", "Нысаналы мәні", "Нақты мәні", "Орындалуы, %"],
            "h_summary": "Қорытындылар",
            "sig_leader": "Кластер жобасының басшысы",
            "sig_operator": "Оператордың өкілі",
        },
        "training_attendance_list": {
            "title": "Оқуға қатысушыларды тіркеу парағы",
            "t_module": "Оқу модулі туралы мәліметтер",
            "rows": ["Модульдің атауы", "Тақырыбы", "Өткізу мерзімі", "Ұзақтығы, академиялық сағат"],
            "table": "Оқуға қатысушылардың тізімі",
            "cols": ["№", "Т.А.Ә.", "Ұйым", "Кластер жобасы", "Қатысуы", "Қолы"],
            "totals": "**Тіркелгендер:** {{ registered }}; **қатысқандар:** {{ attended }}",
            "sig_trainer": "Тренер",
            "sig_operator": "Оператордың өкілі",
        },
        "training_certificate": {
            "title": "Сертификат",
            "certify": "Осы сертификат",
            "completed": "«{{ doc.round_title }}» конкурстық іріктеуі аясында «{{ module.title }}» "
            "({{ module.topic }}) модулі бойынша {{ module.starts_on }} – {{ module.ends_on }} аралығында "
            "{{ module.hours }} академиялық сағат көлемінде оқудан өткенін растайды.",
            "sig": "Оператордың басшысы",
        },
        "briefing_note": {
            "title": "Ақпараттық-талдамалық анықтама",
            "addressee": "**Кімге:** {{ note.addressee }}",
            "subject": "**Тақырыбы:** {{ note.title }}",
            "h_summary": "1. Мәселенің мәні",
            "h_clusters": "2. Конкурстық іріктеу қорытындысы бойынша іріктелген кластер жобалары",
            "table": "Іріктелген кластер жобалары",
            "cols": ["№", "Тіркеу нөмірі", "Кластер жобасының атауы", "Өңір", "Балл", "Ағымдағы кезең"],
            "h_partner": "3. Серіктестің ұстанымы",
            "sig": "Дайындаған: оператордың өкілі",
        },
    },
    "en": {
        "page": "Page {PAGE} of {NUMPAGES}",
        "table_caption": "Table {n} – {title}",
        "no": "No.",
        "indicator": "Item",
        "value": "Value",
        "attribute": "Attribute",
        "operator_line": "Operator: {{ org.operator }}{% if org.partner %}; partner: {{ org.partner }}{% endif %}",
        "round_line": "Competitive selection “{{ doc.round_title }}”",
        "legal_basis": "**Legal basis:** {{ org.legal_basis }}",
        "case_name": "**Cluster project:** {{ case.name }} (ref. {{ case.ref }})",
        "case_place": "**Region, city:** {{ case.region }}, {{ case.city }}",
        "case_sector": "**Sector:** {{ case.sector }}",
        "sig_caption": "(signature)",
        "name_caption": "(name)",
        "seal": "Seal",
        "application_receipt": {
            "title": "Application Receipt",
            "intro": "This is to confirm that the application for the competitive selection "
            "“{{ doc.round_title }}” has been received by the operator ({{ org.operator }}) and registered "
            "under number {{ application.ref }}.",
            "table": "Application details",
            "rows": [
                "Application reference",
                "Cluster project name",
                "Region",
                "City",
                "Sector",
                "Anchor enterprises",
                "Number of SMEs",
                "Employees",
                "Export share, %",
                "Research partners",
                "Submitted at",
            ],
            "note": "This receipt only confirms that the application was received; it is not a decision "
            "on its admission to the competitive selection.",
            "sig_received": "Received by",
            "sig_applicant": "Receipt handed to (applicant)",
        },
        "score_sheet": {
            "title": "Expert Score Sheet",
            "expert": "**Expert:** {{ expert.name }}",
            "application": "**Application:** {{ application.ref }} – {{ application.name }}",
            "table": "Scoring of the application by criteria",
            "cols": ["No.", "Code", "Criterion", "Weight", "Score", "Weighted score", "Comment"],
            "total": "**Total weighted score:** {{ total }}",
            "declaration": "By signing this sheet the expert confirms having no conflict of interest regarding "
            "the application assessed and undertakes not to disclose information obtained during the review.",
            "sig": "Expert",
        },
        "selection_minutes": {
            "title": "Minutes of the Competitive Selection",
            "deciding_body": "**Deciding body:** {{ org.deciding_body }}",
            "pass_mark": "**Pass mark:** {{ pass_mark }}",
            "max_selected": "**Maximum number of applications selected:** {{ max_selected }}",
            "h_participants": "1. Present",
            "t_participants": "Participants of the meeting",
            "c_participants": ["No.", "Name", "Role"],
            "h_ranking": "2. Ranking of applications",
            "t_ranking": "Ranking of applications after expert scoring",
            "c_ranking": ["Rank", "Ref.", "Cluster project name", "Score", "Decision", "Note"],
            "h_refused": "3. Applications not admitted to scoring",
            "t_refused": "Applications refused at the eligibility check",
            "c_refused": ["No.", "Ref.", "Cluster project name", "Reason for refusal"],
            "h_decision": "4. Decision",
            "decision": "The ranking of applications in Table 2 is approved. Applications scoring at least "
            "{{ pass_mark }} points are selected, up to {{ max_selected }} applications; the decision on each "
            "application is given in the “Decision” column.",
            "h_signatures": "Signatures of the participants:",
        },
        "decision_notice": {
            "title": "Notice of Decision on Application",
            "to": ["To the applicant of the cluster project", "“{{ case.name }}”", "{{ case.region }}, {{ case.city }}"],
            "body": "We hereby notify you that, following the competitive selection “{{ doc.round_title }}”, the "
            "decision set out in Table 1 has been taken on application {{ application.ref }} "
            "“{{ application.name }}”.",
            "deciding_body": "**Deciding body:** {{ org.deciding_body }}",
            "table": "Outcome of the review of the application",
            "rows": ["Decision", "Total score", "Rank", "Grounds"],
            "appeal": "This decision may be appealed in accordance with the legislation of the Republic of "
            "Kazakhstan.",
            "sig": "Authorised officer of the organiser",
        },
        "diagnosis_report": {
            "title": "Cluster Diagnosis Report",
            "intro": "The diagnosis assesses the current level of development of the cluster in its key areas "
            "and sets the priorities of the development plan.",
            "table": "Diagnosis results by area",
            "cols": ["No.", "Area", "Score, %", "Findings"],
            "overall": "**Overall development level of the cluster, %:** {{ overall_pct }}",
            "assessors": "**Assessors:** {{ assessors }}",
            "sig_assessor": "Expert",
            "sig_leader": "Acknowledged by the cluster project leader",
        },
        "development_plan": {
            "title": "Cluster Development Plan",
            "h_vision": "1. Development vision",
            "h_governance": "2. Cluster governance",
            "h_actions": "3. Action plan",
            "table": "Cluster development action plan",
            "cols": ["No.", "Measure", "Responsible party", "Deadline", "Budget, KZT", "KPI", "Target"],
            "total": "**Total plan budget, KZT:** {{ total_budget_kzt }}",
            "sig_leader": "Cluster project leader",
            "sig_operator": "Agreed: operator representative",
        },
        "approval_sheet": {
            "title": "Approval Sheet",
            "t_subject": "Document under approval",
            "rows": ["Document title", "Version", "SHA-256 checksum"],
            "t_decisions": "Approval decisions",
            "cols": ["No.", "Role", "Organisation", "Name", "Decision", "Date", "Comment"],
            "outcome": "**Outcome:** {{ outcome }}",
            "note": "This approval sheet is an integral part of the document version stated above; any change "
            "to the document changes its checksum and requires a new approval.",
        },
        "support_coordination_sheet": {
            "title": "Support Measure Coordination Sheet",
            "t_measure": "Support measure",
            "rows": ["Measure", "Amount, KZT", "Reimbursement share, %", "Legal basis"],
            "t_positions": "Positions of government bodies",
            "cols": ["No.", "Government body", "Position", "Date", "Comment"],
            "outcome": "**Outcome:** {{ outcome }}",
            "sig": "Operator representative",
        },
        "monitoring_report": {
            "title": "Cluster Development Plan Monitoring Report",
            "period": "**Reporting period:** Q{{ period.quarter }} {{ period.year }}",
            "table": "Achievement of key performance indicators",
            "cols": ["No.", "KPI", "Target", "Actual", "Achievement, %"],
            "h_summary": "Conclusions",
            "sig_leader": "Cluster project leader",
            "sig_operator": "Operator representative",
        },
        "training_attendance_list": {
            "title": "Training Attendance List",
            "t_module": "Training module",
            "rows": ["Module", "Topic", "Dates", "Duration, academic hours"],
            "table": "Participants of the training",
            "cols": ["No.", "Name", "Organisation", "Cluster project", "Attendance", "Signature"],
            "totals": "**Registered:** {{ registered }}; **attended:** {{ attended }}",
            "sig_trainer": "Trainer",
            "sig_operator": "Operator representative",
        },
        "training_certificate": {
            "title": "Certificate",
            "certify": "This is to certify that",
            "completed": "has completed the training module “{{ module.title }}” ({{ module.topic }}) from "
            "{{ module.starts_on }} to {{ module.ends_on }}, {{ module.hours }} academic hours, within the "
            "competitive selection “{{ doc.round_title }}”.",
            "sig": "Head of the operator",
        },
        "briefing_note": {
            "title": "Briefing Note",
            "addressee": "**To:** {{ note.addressee }}",
            "subject": "**Subject:** {{ note.title }}",
            "h_summary": "1. Summary",
            "h_clusters": "2. Cluster projects selected in the competitive selection",
            "table": "Selected cluster projects",
            "cols": ["No.", "Ref.", "Cluster project name", "Region", "Score", "Current stage"],
            "h_partner": "3. Position of the partner",
            "sig": "Prepared by: operator representative",
        },
    },
}

# --------------------------------------------------------------------------------------
# Low-level helpers
# --------------------------------------------------------------------------------------

_TAG_RE = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})")
_FIELD_RE = re.compile(r"(\{PAGE\}|\{NUMPAGES\})")


def segments(text: str) -> list[tuple[str, bool]]:
    """Split ``text`` into (chunk, bold) pieces; every jinja tag is a chunk of its own."""
    out = []
    for i, part in enumerate(text.split("**")):
        for chunk in _TAG_RE.split(part):
            if chunk:
                out.append((chunk, i % 2 == 1))
    return out


def add_runs(par, text: str, bold: bool = False, size: float | None = None, caps: bool = False,
             font: str | None = None):
    for chunk, b in segments(text):
        run = par.add_run(chunk)  # one run per placeholder: docxtpl sees it unbroken
        if bold or b:
            run.bold = True
        if size:
            run.font.size = Pt(size)
        if caps:
            run.font.all_caps = True
        if font:
            run.font.name = font
    return par


def set_rfonts(rpr, font: str = FONT) -> None:
    """Set all four rFonts slots (ascii, hAnsi, eastAsia, cs) and drop theme-font overrides."""
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        key = qn(f"w:{attr}")
        if key in rfonts.attrib:
            del rfonts.attrib[key]
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        rfonts.set(qn(f"w:{attr}"), font)


def set_child(parent, tag: str, **attrs):
    el = parent.find(qn(tag))
    if el is None:
        el = OxmlElement(tag)
        parent.append(el)
    for k, v in attrs.items():
        el.set(qn(f"w:{k}"), str(v))
    return el


def add_field(par, instr: str) -> None:
    """Append a complex field (begin / instrText / separate / cached result / end)."""
    def fld(kind):
        run = par.add_run()
        el = OxmlElement("w:fldChar")
        el.set(qn("w:fldCharType"), kind)
        run._r.append(el)

    fld("begin")
    run = par.add_run()
    instr_el = OxmlElement("w:instrText")
    instr_el.set(qn("xml:space"), "preserve")
    instr_el.text = f" {instr} "
    run._r.append(instr_el)
    fld("separate")
    par.add_run("1")
    fld("end")


def bottom_border(par) -> None:
    ppr = par._p.get_or_add_pPr()
    pbdr = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("val", "single"), ("sz", "6"), ("space", "1"), ("color", "000000")):
        bottom.set(qn(f"w:{k}"), v)
    pbdr.append(bottom)
    # pBdr must precede spacing/ind/jc in CT_PPr order; insert right after pStyle/keepNext...
    anchor = None
    for tag in ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:spacing", "w:ind", "w:jc"):
        anchor = ppr.find(qn(tag))
        if anchor is not None:
            break
    if anchor is not None:
        anchor.addprevious(pbdr)
    else:
        ppr.append(pbdr)


def shade(cell, fill: str = "E7E6E6") -> None:
    tcpr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    tcpr.append(shd)


# --------------------------------------------------------------------------------------
# Document builder
# --------------------------------------------------------------------------------------


class Builder:
    def __init__(self, lang: str, kind: str):
        self.lang = lang
        self.kind = kind
        self.L = LABELS[lang]
        self.K = self.L[kind]
        self.doc = Document()
        self.table_no = 0
        self._styles()
        self._page()
        self._core_properties()
        self._compat()

    # -- setup ---------------------------------------------------------------------------

    def _styles(self) -> None:
        styles = self.doc.styles
        lang_tag = LANG_TAGS[self.lang]

        # document defaults: no theme fonts anywhere
        rpr_default = styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
        set_rfonts(rpr_default)
        set_child(rpr_default, "w:sz", val=BODY_PT * 2)
        set_child(rpr_default, "w:szCs", val=BODY_PT * 2)
        set_child(rpr_default, "w:lang", val=lang_tag, eastAsia=lang_tag, bidi="ar-SA")

        normal = styles["Normal"]
        normal.font.name = FONT
        normal.font.size = Pt(BODY_PT)
        rpr = normal.element.get_or_add_rPr()
        set_rfonts(rpr)
        set_child(rpr, "w:szCs", val=BODY_PT * 2)
        set_child(rpr, "w:lang", val=lang_tag, eastAsia=lang_tag, bidi="ar-SA")
        pf = normal.paragraph_format
        pf.space_before = Pt(0)
        pf.space_after = Pt(0)
        pf.line_spacing = 1.0
        pf.widow_control = True

        for name in ("Header", "Footer"):
            st = styles[name]
            st.font.name = FONT
            st.font.size = Pt(10)
            set_rfonts(st.element.get_or_add_rPr())
            # drop the template's US-Letter centre/right tab stops (4680/9360 twips); the header
            # paragraph sets its own right tab at the A4 text width
            ppr = st.element.find(qn("w:pPr"))
            tabs = ppr.find(qn("w:tabs")) if ppr is not None else None
            if tabs is not None:
                ppr.remove(tabs)

        def add(name, size=BODY_PT, bold=False, align=None, before=0, after=0, first_indent=None,
                keep_next=False):
            st = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
            st.base_style = normal
            st.quick_style = True
            st.font.size = Pt(size)
            set_child(st.element.get_or_add_rPr(), "w:szCs", val=int(size * 2))
            if bold:
                st.font.bold = True
            f = st.paragraph_format
            if align is not None:
                f.alignment = align
            f.space_before = Pt(before)
            f.space_after = Pt(after)
            if first_indent is not None:
                f.first_line_indent = Cm(first_indent)
            if keep_next:
                f.keep_with_next = True
            return st

        add("Kelisim Body", align=JUSTIFY, after=6, first_indent=1.25)
        add("Kelisim Field", align=LEFT, after=3)
        add("Kelisim Title", size=14, bold=True, align=CENTER, before=12, after=6, keep_next=True)
        add("Kelisim Heading", bold=True, align=LEFT, before=12, after=6, keep_next=True)
        add("Kelisim Caption", align=LEFT, before=6, after=3, keep_next=True)
        add("Kelisim Table", size=TABLE_PT, align=LEFT)
        add("Kelisim Table Head", size=TABLE_PT, bold=True, align=CENTER, keep_next=True)
        add("Kelisim Signature", align=LEFT, before=18)
        add("Kelisim Sig Caption", size=8, align=LEFT)

    def _page(self) -> None:
        section = self.doc.sections[0]
        section.page_width = Cm(PAGE_W_CM)
        section.page_height = Cm(PAGE_H_CM)
        section.top_margin = section.bottom_margin = Cm(MARGIN_CM)
        section.left_margin = section.right_margin = Cm(MARGIN_CM)
        section.header_distance = section.footer_distance = Cm(1.0)

        header = section.header
        header.is_linked_to_previous = False
        hp = header.paragraphs[0]
        hp.style = self.doc.styles["Header"]
        hp.paragraph_format.tab_stops.clear_all()
        hp.paragraph_format.tab_stops.add_tab_stop(Cm(TEXT_W_CM), WD_TAB_ALIGNMENT.RIGHT)
        add_runs(hp, "{{ doc.round_code }}\t№ {{ doc.number }}")
        bottom_border(hp)

        footer = section.footer
        footer.is_linked_to_previous = False
        fp = footer.paragraphs[0]
        fp.style = self.doc.styles["Footer"]
        fp.alignment = CENTER
        add_runs(fp, f"{self.L['no']} {{{{ doc.number }}}} · ")
        for piece in _FIELD_RE.split(self.L["page"]):
            if piece in ("{PAGE}", "{NUMPAGES}"):
                add_field(fp, piece[1:-1])
            elif piece:
                fp.add_run(piece)

    def _compat(self) -> None:
        # a value's "\n" becomes a line break (<w:br/>): do not stretch the words of the line
        # before it in a justified paragraph (Word: "Don't expand character spaces on a line
        # ending with Shift+Return"; LibreOffice reads the same setting)
        compat = self.doc.settings.element.find(qn("w:compat"))
        if compat is None:
            compat = OxmlElement("w:compat")
            self.doc.settings.element.append(compat)
        compat.insert(0, OxmlElement("w:doNotExpandShiftReturn"))  # first in CT_Compat's sequence

    def _core_properties(self) -> None:
        # docxtpl renders author/comments/identifier/language/subject/title as jinja: keep them static
        cp = self.doc.core_properties
        cp.title = self.K["title"]
        cp.subject = self.kind
        cp.author = "Kelisim"
        cp.last_modified_by = "Kelisim"
        cp.comments = f"Kelisim template set {TEMPLATE_VERSION}"
        cp.identifier = f"kelisim:{self.lang}:{self.kind}:{TEMPLATE_VERSION}"
        cp.language = LANG_TAGS[self.lang]
        cp.keywords = ""
        cp.category = ""
        cp.revision = 1
        cp.created = FIXED_TIME
        cp.modified = FIXED_TIME
        cp.last_printed = FIXED_TIME

    # -- content primitives --------------------------------------------------------------

    def p(self, text: str = "", style: str = "Kelisim Field", align=None, bold=False, size=None,
          caps=False, tabs=(), left_indent=None, space_before=None):
        par = self.doc.add_paragraph(style=self.doc.styles[style])
        add_runs(par, text, bold=bold, size=size, caps=caps)
        if align is not None:
            par.alignment = align
        for pos, al in tabs:
            par.paragraph_format.tab_stops.add_tab_stop(Cm(pos), al)
        if left_indent is not None:
            par.paragraph_format.left_indent = Cm(left_indent)
        if space_before is not None:
            par.paragraph_format.space_before = Pt(space_before)
        return par

    def body(self, text: str):
        return self.p(text, style="Kelisim Body")

    def heading(self, text: str):
        return self.p(text, style="Kelisim Heading")

    def tag(self, tag: str):
        """A paragraph holding only a ``{%p ... %}`` tag (docxtpl drops the paragraph)."""
        par = self.doc.add_paragraph(style=self.doc.styles["Kelisim Field"])
        par.add_run(tag)
        return par

    def table(self, title: str, columns: list[tuple[str, float, object]], rows=None, loop=None):
        """Numbered table with a repeated header row.

        ``columns``: (header, width_cm, alignment). ``rows``: static rows (lists of cell texts).
        ``loop``: (``"r in items"``, [cell texts]) -> ``{%tr for ... %}`` / data / ``{%tr endfor %}``.
        """
        assert abs(sum(w for _, w, _ in columns) - TEXT_W_CM) < 0.01, (self.kind, title)
        self.table_no += 1
        self.p(self.L["table_caption"].format(n=self.table_no, title=title), style="Kelisim Caption")

        t = self.doc.add_table(rows=0, cols=len(columns))
        t.style = self.doc.styles["Table Grid"]
        t.alignment = WD_TABLE_ALIGNMENT.CENTER
        t.autofit = False
        tblpr = t._tbl.tblPr
        set_child(tblpr, "w:tblW", w=int(TEXT_W_CM * 567), type="dxa")
        margins = OxmlElement("w:tblCellMar")  # 0.1 cm left/right: "No." fits a 0.9 cm column
        for side in ("left", "right"):
            set_child(margins, f"w:{side}", w=57, type="dxa")
        look = tblpr.find(qn("w:tblLook"))  # CT_TblPr order: ..., tblLayout, tblCellMar, tblLook
        if look is not None:
            look.addprevious(margins)
        else:
            tblpr.append(margins)
        for i, (_, w, _) in enumerate(columns):
            t.columns[i].width = Cm(w)

        def row(texts, style="Kelisim Table", header=False):
            r = t.add_row()
            if header:
                trpr = r._tr.get_or_add_trPr()
                trpr.append(OxmlElement("w:tblHeader"))
            for i, (cell, (_, w, al)) in enumerate(zip(r.cells, columns)):
                cell.width = Cm(w)
                if header:
                    shade(cell)  # before vAlign: CT_TcPr child order is tcW, ..., shd, ..., vAlign
                cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER if header else WD_CELL_VERTICAL_ALIGNMENT.TOP
                par = cell.paragraphs[0]
                par.style = self.doc.styles[style]
                if not header and al is not None:
                    par.alignment = al
                text = texts[i] if i < len(texts) else ""
                if text:
                    add_runs(par, text)
            return r

        row([h for h, _, _ in columns], style="Kelisim Table Head", header=True)
        for texts in rows or ():
            row(texts)
        if loop is not None:
            spec, cells = loop
            row([f"{{%tr for {spec} %}}"])
            row(cells)
            row(["{%tr endfor %}"])
        return t

    def kv_table(self, title: str, pairs: list[tuple[str, str]]):
        """Numbered two-column "attribute / value" table with a № column."""
        L = self.L
        cols = [(L["no"], 1.0, CENTER), (L["indicator"], 6.0, LEFT), (L["value"], 10.0, LEFT)]
        return self.table(title, cols, rows=[[str(i), k, v] for i, (k, v) in enumerate(pairs, 1)])

    def signature(self, label: str, name: str = "", space_before=None):
        tabs = [(7.0, WD_TAB_ALIGNMENT.LEFT), (11.0, WD_TAB_ALIGNMENT.LEFT)]
        self.p(f"{label}\t________________\t{name}", style="Kelisim Signature", tabs=tabs,
               space_before=space_before)
        self.p(f"\t{self.L['sig_caption']}\t{self.L['name_caption']}", style="Kelisim Sig Caption",
               tabs=[(8.0, WD_TAB_ALIGNMENT.LEFT), (11.0, WD_TAB_ALIGNMENT.LEFT)])

    # -- common blocks -------------------------------------------------------------------

    def preamble(self) -> None:
        L = self.L
        self.p("{{ org.organiser }}", align=CENTER, bold=True, caps=True)
        rule = self.p(L["operator_line"], align=CENTER, size=10)
        bottom_border(rule)
        self.p("{{ doc.date }}\t№ {{ doc.number }}", tabs=[(TEXT_W_CM, WD_TAB_ALIGNMENT.RIGHT)],
               space_before=6)
        self.p(self.K["title"], style="Kelisim Title")
        self.p(L["round_line"], align=CENTER)
        self.p("", style="Kelisim Field")

    def case_block(self) -> None:
        for key in ("case_name", "case_place", "case_sector"):
            self.p(self.L[key])

    def legal_basis(self) -> None:
        self.p(self.L["legal_basis"])

    def _font_table(self) -> None:
        """Declare :data:`FONT` in ``word/fontTable.xml`` as a serif font with :data:`FONT_ALT_NAME`
        as its alternative, so Word on a machine without it substitutes that font."""
        part = next(p for p in self.doc.part.package.parts if str(p.partname) == "/word/fontTable.xml")
        fonts = etree.fromstring(part.blob)
        font = etree.SubElement(fonts, qn("w:font"))
        font.set(qn("w:name"), FONT)
        for tag, value in (("w:altName", FONT_ALT_NAME), ("w:panose1", "02020603050405020304"),
                           ("w:charset", "CC"), ("w:family", "roman"), ("w:pitch", "variable")):
            etree.SubElement(font, qn(tag)).set(qn("w:val"), value)
        fonts.insert(0, font)
        part._blob = etree.tostring(fonts, encoding="UTF-8", standalone=True)

    def save(self, path: Path) -> bool:
        self._font_table()
        buf = io.BytesIO()
        self.doc.save(buf)
        return write_deterministic(buf.getvalue(), path)


def write_deterministic(docx_bytes: bytes, path: Path) -> bool:
    """Re-zip with fixed timestamps; write only if changed. Returns True if written."""
    src = zipfile.ZipFile(io.BytesIO(docx_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, src.read(info.filename))
    data = out.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True


# --------------------------------------------------------------------------------------
# Kinds
# --------------------------------------------------------------------------------------


def build_application_receipt(b: Builder) -> None:
    K = b.K
    b.preamble()
    b.body(K["intro"])
    values = [
        "{{ application.ref }}",
        "{{ application.name }}",
        "{{ application.region }}",
        "{{ application.city }}",
        "{{ application.sector }}",
        "{{ application.anchor_enterprises }}",
        "{{ application.smes }}",
        "{{ application.employees }}",
        "{{ application.export_share_pct }}",
        "{{ application.research_partners }}",
        "{{ application.submitted_at }}",
    ]
    b.kv_table(K["table"], list(zip(K["rows"], values)))
    b.p("")
    b.body(K["note"])
    b.legal_basis()
    b.signature(K["sig_received"], "{{ received_by }}")
    b.signature(K["sig_applicant"])


def build_score_sheet(b: Builder) -> None:
    K = b.K
    b.preamble()
    b.case_block()
    b.p(K["expert"])
    b.p(K["application"])
    c = K["cols"]
    b.table(
        K["table"],
        [(c[0], 0.9, CENTER), (c[1], 1.4, CENTER), (c[2], 4.6, LEFT), (c[3], 1.4, CENTER),
         (c[4], 1.4, CENTER), (c[5], 2.0, CENTER), (c[6], 5.3, LEFT)],
        loop=("s in scores", ["{{ loop.index }}", "{{ s.code }}", "{{ s.title }}", "{{ s.weight }}",
                              "{{ s.value }}", "{{ s.weighted }}", "{{ s.comment }}"]),
    )
    b.p(K["total"], space_before=6)
    b.p("")
    b.body(K["declaration"])
    b.signature(K["sig"], "{{ expert.name }}")


def build_selection_minutes(b: Builder) -> None:
    K = b.K
    b.preamble()
    b.p(K["deciding_body"])
    b.legal_basis()
    b.p(K["pass_mark"])
    b.p(K["max_selected"])

    b.heading(K["h_participants"])
    c = K["c_participants"]
    b.table(K["t_participants"], [(c[0], 1.0, CENTER), (c[1], 8.0, LEFT), (c[2], 8.0, LEFT)],
            loop=("p in participants", ["{{ loop.index }}", "{{ p.name }}", "{{ p.role }}"]))

    b.heading(K["h_ranking"])
    c = K["c_ranking"]
    b.table(K["t_ranking"],
            [(c[0], 1.4, CENTER), (c[1], 2.4, CENTER), (c[2], 5.6, LEFT), (c[3], 1.6, CENTER),
             (c[4], 3.0, LEFT), (c[5], 3.0, LEFT)],
            loop=("r in ranking", ["{{ r.rank }}", "{{ r.ref }}", "{{ r.name }}", "{{ r.score }}",
                                   "{{ r.decision }}", "{{ r.flag }}"]))

    b.heading(K["h_refused"])
    c = K["c_refused"]
    b.table(K["t_refused"],
            [(c[0], 1.0, CENTER), (c[1], 2.6, CENTER), (c[2], 6.4, LEFT), (c[3], 7.0, LEFT)],
            loop=("x in refused", ["{{ loop.index }}", "{{ x.ref }}", "{{ x.name }}", "{{ x.reason }}"]))

    b.heading(K["h_decision"])
    b.body(K["decision"])

    b.heading(K["h_signatures"])
    b.tag("{%p for p in participants %}")
    b.signature("{{ p.role }}", "{{ p.name }}", space_before=12)
    b.tag("{%p endfor %}")


def build_decision_notice(b: Builder) -> None:
    K = b.K
    b.preamble()
    for line in K["to"]:
        b.p(line, left_indent=9.0)
    b.p("")
    b.body(K["body"])
    b.p(K["deciding_body"])
    values = ["{{ decision }}", "{{ score }}", "{{ rank }}", "{{ reason }}"]
    b.kv_table(K["table"], list(zip(K["rows"], values)))
    b.p("")
    b.legal_basis()
    b.body(K["appeal"])
    b.signature(K["sig"], space_before=24)
    b.p(b.L["seal"], space_before=6)


def build_diagnosis_report(b: Builder) -> None:
    K = b.K
    b.preamble()
    b.case_block()
    b.p("")
    b.body(K["intro"])
    c = K["cols"]
    b.table(K["table"], [(c[0], 1.0, CENTER), (c[1], 5.0, LEFT), (c[2], 2.0, CENTER), (c[3], 9.0, LEFT)],
            loop=("a in areas", ["{{ a.number }}", "{{ a.area }}", "{{ a.score_pct }}", "{{ a.finding }}"]))
    b.p(K["overall"], space_before=6)
    b.p(K["assessors"])
    b.signature(K["sig_assessor"])
    b.signature(K["sig_leader"])


def build_development_plan(b: Builder) -> None:
    K = b.K
    b.preamble()
    b.case_block()
    b.heading(K["h_vision"])
    b.body("{{ vision }}")
    b.heading(K["h_governance"])
    b.body("{{ governance }}")
    b.heading(K["h_actions"])
    c = K["cols"]
    b.table(K["table"],
            [(c[0], 0.9, CENTER), (c[1], 4.2, LEFT), (c[2], 2.8, LEFT), (c[3], 1.9, CENTER),
             (c[4], 2.3, RIGHT), (c[5], 2.6, LEFT), (c[6], 2.3, CENTER)],
            loop=("a in actions", ["{{ a.number }}", "{{ a.measure }}", "{{ a.responsible }}", "{{ a.deadline }}",
                                   "{{ a.budget_kzt }}", "{{ a.kpi }}", "{{ a.target }}"]))
    b.p(K["total"], space_before=6)
    b.signature(K["sig_leader"])
    b.signature(K["sig_operator"])


def build_approval_sheet(b: Builder) -> None:
    K = b.K
    b.preamble()
    b.case_block()
    values = ["{{ subject.title }}", "{{ subject.version }}", "{{ subject.sha256 }}"]
    b.kv_table(K["t_subject"], list(zip(K["rows"], values)))
    c = K["cols"]
    b.table(K["t_decisions"],
            [(c[0], 0.9, CENTER), (c[1], 2.4, LEFT), (c[2], 3.0, LEFT), (c[3], 2.8, LEFT),
             (c[4], 2.3, LEFT), (c[5], 1.9, CENTER), (c[6], 3.7, LEFT)],
            loop=("d in decisions", ["{{ d.number }}", "{{ d.role }}", "{{ d.organisation }}", "{{ d.name }}",
                                     "{{ d.decision }}", "{{ d.date }}", "{{ d.comment }}"]))
    b.p(K["outcome"], space_before=6)
    b.p("")
    b.body(K["note"])


def build_support_coordination_sheet(b: Builder) -> None:
    K = b.K
    b.preamble()
    b.case_block()
    values = ["{{ measure.title }}", "{{ measure.amount_kzt }}", "{{ measure.reimbursement_pct }}",
              "{{ measure.legal_basis }}"]
    b.kv_table(K["t_measure"], list(zip(K["rows"], values)))
    c = K["cols"]
    b.table(K["t_positions"],
            [(c[0], 0.9, CENTER), (c[1], 4.6, LEFT), (c[2], 3.0, LEFT), (c[3], 2.0, CENTER), (c[4], 6.5, LEFT)],
            loop=("q in positions", ["{{ q.number }}", "{{ q.body }}", "{{ q.position }}", "{{ q.date }}",
                                     "{{ q.comment }}"]))
    b.p(K["outcome"], space_before=6)
    b.legal_basis()
    b.signature(K["sig"])


def build_monitoring_report(b: Builder) -> None:
    K = b.K
    b.preamble()
    b.case_block()
    b.p(K["period"])
    c = K["cols"]
    b.table(K["table"],
            [(c[0], 1.0, CENTER), (c[1], 7.0, LEFT), (c[2], 3.0, CENTER), (c[3], 3.0, CENTER), (c[4], 3.0, CENTER)],
            loop=("k in kpis", ["{{ k.number }}", "{{ k.kpi }}", "{{ k.target }}", "{{ k.actual }}", "{{ k.pct }}"]))
    b.heading(K["h_summary"])
    b.body("{{ summary }}")
    b.signature(K["sig_leader"])
    b.signature(K["sig_operator"])


def build_training_attendance_list(b: Builder) -> None:
    K = b.K
    b.preamble()
    values = ["{{ module.title }}", "{{ module.topic }}", "{{ module.starts_on }} – {{ module.ends_on }}",
              "{{ module.hours }}"]
    b.kv_table(K["t_module"], list(zip(K["rows"], values)))
    c = K["cols"]
    b.table(K["table"],
            [(c[0], 0.9, CENTER), (c[1], 3.8, LEFT), (c[2], 3.6, LEFT), (c[3], 3.6, LEFT), (c[4], 2.6, CENTER),
             (c[5], 2.5, LEFT)],
            loop=("a in attendees", ["{{ a.number }}", "{{ a.name }}", "{{ a.organisation }}", "{{ a.cluster }}",
                                     "{{ a.attended }}", ""]))
    b.p(K["totals"], space_before=6)
    b.signature(K["sig_trainer"])
    b.signature(K["sig_operator"])


def build_training_certificate(b: Builder) -> None:
    K = b.K
    b.preamble()
    b.p("")
    b.p(K["certify"], align=CENTER, space_before=12)
    b.p("{{ participant.name }}", style="Kelisim Title")
    b.p("{{ participant.organisation }}", align=CENTER)
    b.p("{{ participant.cluster }}", align=CENTER)
    b.p("")
    b.body(K["completed"])
    b.signature(K["sig"], space_before=36)
    b.p(b.L["seal"], space_before=6)


def build_briefing_note(b: Builder) -> None:
    K = b.K
    b.preamble()
    b.p(K["addressee"])
    b.p(K["subject"])
    b.heading(K["h_summary"])
    b.body("{{ note.body }}")
    b.heading(K["h_clusters"])
    c = K["cols"]
    b.table(K["table"],
            [(c[0], 1.1, CENTER), (c[1], 2.4, CENTER), (c[2], 5.3, LEFT), (c[3], 3.4, LEFT), (c[4], 1.6, CENTER),
             (c[5], 3.2, LEFT)],
            loop=("c in clusters", ["{{ c.number }}", "{{ c.ref }}", "{{ c.name }}", "{{ c.region }}",
                                    "{{ c.score }}", "{{ c.stage }}"]))
    b.heading(K["h_partner"])
    b.body("{{ note.partner_comments }}")
    b.signature(K["sig"], space_before=24)


BUILDERS = {kind: globals()[f"build_{kind}"] for kind in KINDS}


def build(out_dir: Path = OUT_DIR) -> list[Path]:
    written = []
    for lang in LANGS:
        for kind in KINDS:
            b = Builder(lang, kind)
            BUILDERS[kind](b)
            path = out_dir / lang / f"{kind}.docx"
            if b.save(path):
                written.append(path)
    version = out_dir / "VERSION"
    # no trailing newline: the app may read it verbatim as DocumentVersion.template_version
    if not version.exists() or version.read_text(encoding="utf-8") != TEMPLATE_VERSION:
        version.write_text(TEMPLATE_VERSION, encoding="utf-8")
        written.append(version)
    return written


def main() -> int:
    written = build()
    total = len(LANGS) * len(KINDS)
    print(f"Kelisim templates {TEMPLATE_VERSION}: {total} templates in {OUT_DIR}, {len(written)} file(s) written")
    for path in written:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
