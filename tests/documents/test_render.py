"""Text handling of the renderer (``documents.render``) and the training / advisory papers.

The text rules: values come out literally (autoescape), XML-illegal control characters are
removed, a newline keeps its line (``<w:br/>``), a placeholder that Word split into several
runs still renders, tables of 0, 1 and 150 rows render. The last tests use the 2017 cycle run
once per session by ``tests/conftest.py``.
"""

from __future__ import annotations

import copy
import io
import os
import re
import zipfile
from pathlib import Path

import docx
import pytest
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from markupsafe import Markup

from documents.render import (
    RenderError,
    clean,
    clear_cache,
    document_text,
    render_docx,
    render_plain,
    render_template,
    template_path,
)

from .test_templates import LANGS, sample_context

TRICKY = "R&D <draft> «Тест» \"q\" 'a'"


def _xml(data: bytes, part: str = "word/document.xml") -> str:
    return zipfile.ZipFile(io.BytesIO(data)).read(part).decode("utf-8")


def _paragraphs(data: bytes) -> list[str]:
    return [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]


# -- clean() -------------------------------------------------------------------------------------

def test_clean_removes_xml_illegal_characters_and_keeps_tab_and_newline():
    value = {"a": "x\x00y\x07z\x0b\x0c\x1f\x7f", "b": ["line 1\r\nline 2\rline 3", ("t\tu",)],
             "c": 5, "d": None, "e": "bad \ud800 surrogate \ufffe\uffff"}
    assert clean(value) == {"a": "xyz", "b": ["line 1\nline 2\nline 3", ["t\tu"]], "c": 5, "d": None,
                            "e": "bad  surrogate "}


def test_clean_leaves_markup_alone():
    markup = Markup("<w:r><w:t>x</w:t></w:r>")
    assert clean({"m": markup})["m"] is markup


# -- values come out literally, lines keep their breaks ----------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_multi_line_value_keeps_its_lines_and_stays_literal(lang):
    ctx = sample_context("development_plan")
    ctx["vision"] = "First & <one>\nSecond «Тест»\r\nThird\x07 \"q\""
    data = render_docx("development_plan", lang, ctx)
    paragraph = next(p for p in _paragraphs(data) if p.startswith("First"))
    assert paragraph.split("\n") == ["First & <one>", "Second «Тест»", "Third \"q\""]
    xml = _xml(data)
    assert "First &amp; &lt;one&gt;</w:t><w:br/>" in xml  # escaped once, then a line break
    assert "\x07" not in xml


@pytest.mark.parametrize("lang", LANGS)
def test_tricky_text_in_header_footer_and_body(lang):
    ctx = sample_context("development_plan")
    ctx["doc"]["number"] = TRICKY
    ctx["doc"]["round_code"] = TRICKY
    ctx["case"]["name"] = TRICKY
    data = render_docx("development_plan", lang, ctx)
    document = docx.Document(io.BytesIO(data))
    section = document.sections[0]
    assert TRICKY in section.header.paragraphs[0].text
    assert TRICKY in section.footer.paragraphs[0].text
    assert any(TRICKY in p.text for p in document.paragraphs)
    for part in ("word/document.xml", "word/header1.xml", "word/footer1.xml"):
        assert "&amp;amp;" not in _xml(data, part) and "&lt;draft&gt;" in _xml(data, part)


def test_control_characters_in_every_value_still_open():
    ctx = sample_context("score_sheet", 3)
    ctx["scores"][0]["comment"] = "a\x00b\x01c\x0bd\x1fe\ud83d"
    ctx["expert"]["name"] = "Ахметов\x0c А.А."
    data = render_docx("score_sheet", "ru", ctx)
    text = document_text(data)
    assert "abcde" in text and "Ахметов А.А." in text


@pytest.mark.parametrize("rows", [0, 1, 150])
def test_tables_of_0_1_and_150_rows_render_like_plain_docxtpl(rows):
    ctx = sample_context("briefing_note", rows)
    path = template_path("briefing_note", "kk")
    data = render_template(path, ctx)
    table = docx.Document(io.BytesIO(data)).tables[0]
    assert len(table.rows) == 1 + rows
    if rows:
        assert table.rows[-1].cells[1].text == f"APP-{rows:03d}"
    assert document_text(data) == document_text(render_plain(path, ctx))


# -- placeholders that Word split into runs ----------------------------------------------------

def _split_run(paragraph, placeholder: str, pieces: list[str]) -> None:
    """Replace the run holding ``placeholder`` by one run per piece, formatted differently and
    separated by a spell-check mark and an empty bookmark, as Word writes after an edit."""
    run = next(r for r in paragraph.runs if placeholder in r.text)
    before, after = run.text.split(placeholder)
    anchor = run._r
    run.text = before
    for i, piece in enumerate(pieces):
        new = copy.deepcopy(run._r)
        for t in new.findall(qn("w:t")):
            new.remove(t)
        text = OxmlElement("w:t")
        text.text = piece
        text.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
        new.append(text)
        rpr = new.find(qn("w:rPr"))
        if rpr is None:
            rpr = OxmlElement("w:rPr")
            new.insert(0, rpr)
        rpr.append(OxmlElement("w:i" if i % 2 else "w:b"))
        proof = OxmlElement("w:proofErr")
        proof.set(qn("w:type"), "spellStart" if i % 2 else "gramEnd")
        anchor.addnext(proof)
        proof.addnext(new)
        anchor = new
        if i == 0:
            mark = OxmlElement("w:bookmarkStart")
            mark.set(qn("w:id"), "7")
            mark.set(qn("w:name"), "_GoBack")
            anchor.addnext(mark)
            end = OxmlElement("w:bookmarkEnd")
            end.set(qn("w:id"), "7")
            mark.addnext(end)
            anchor = end
    if after:
        tail = copy.deepcopy(run._r)
        for t in tail.findall(qn("w:t")):
            t.text = after
        anchor.addnext(tail)


def test_placeholder_split_across_runs_in_body_and_footer(tmp_path):
    """A template written with python-docx whose placeholders are split like "{{ pl", "an.ti",
    "tle }}" (and "{" / "{ plan.title }}") in the body and the footer."""
    document = docx.Document()
    paragraph = document.add_paragraph()
    for i, piece in enumerate(["Plan: ", "{{ pl", "an.ti", "tle }}", "."]):
        run = paragraph.add_run(piece)
        run.bold, run.italic = i % 2 == 0, i == 2
    footer = document.sections[0].footer.paragraphs[0]
    for piece in ["{", "{ plan.title }", "}"]:
        footer.add_run(piece).underline = True
    path = tmp_path / "split.docx"
    document.save(path)
    data = render_template(path, {"plan": {"title": TRICKY}})
    rendered = docx.Document(io.BytesIO(data))
    assert rendered.paragraphs[0].text == f"Plan: {TRICKY}."
    assert rendered.sections[0].footer.paragraphs[0].text == TRICKY
    assert document_text(data) == document_text(render_plain(path, {"plan": {"title": TRICKY}}))


@pytest.mark.parametrize("lang", LANGS)
def test_plan_template_edited_in_word_with_a_split_placeholder(tmp_path, lang):
    """The development plan's cluster-name placeholder split into pieces with other formatting,
    a spell-check mark and a bookmark between them, still renders."""
    document = docx.Document(str(template_path("development_plan", lang)))
    paragraph = next(p for p in document.paragraphs if "{{ case.name }}" in p.text)
    _split_run(paragraph, "{{ case.name }}", ["{", "{ ca", "se.na", "me }", "}"])
    path = tmp_path / "development_plan.docx"
    document.save(path)
    xml = zipfile.ZipFile(path).read("word/document.xml").decode("utf-8")
    assert "{{ case.name }}" not in xml and "se.na" in xml  # really split
    ctx = sample_context("development_plan")
    ctx["case"]["name"] = TRICKY
    data = render_template(path, ctx)
    assert any(TRICKY in p for p in _paragraphs(data))
    assert "{{" not in document_text(data) and "se.na" not in document_text(data)


# -- the renderer itself -------------------------------------------------------------------------

def test_render_is_deterministic_and_copies_untouched_members():
    ctx = sample_context("diagnosis_report")
    path = template_path("diagnosis_report", "en")
    first, second = render_template(path, ctx), render_template(path, ctx)
    assert first == second
    source, out = zipfile.ZipFile(path), zipfile.ZipFile(io.BytesIO(first))
    assert out.testzip() is None
    assert [i.filename for i in out.infolist()] == [i.filename for i in source.infolist()]
    for name in ("word/styles.xml", "word/settings.xml", "[Content_Types].xml", "docProps/core.xml"):
        assert out.read(name) == source.read(name)
        assert out.getinfo(name).compress_size == source.getinfo(name).compress_size


def test_an_edited_template_file_is_picked_up(tmp_path):
    path = tmp_path / "t.docx"
    document = docx.Document()
    document.add_paragraph("one {{ x }}")
    document.save(path)
    assert "one 1" in document_text(render_template(path, {"x": 1}))
    document = docx.Document()
    document.add_paragraph("two {{ x }} and more text")  # another size
    document.save(path)
    os.utime(path, ns=(1, 1))  # even with an old mtime: size differs
    assert "two 1" in document_text(render_template(path, {"x": 1}))
    clear_cache()
    assert "two 2" in document_text(render_template(path, {"x": 2}))


def test_a_template_rendering_broken_xml_raises(tmp_path):
    path = tmp_path / "broken.docx"
    document = docx.Document()
    document.add_paragraph("{{ x|safe }}")  # |safe turns escaping off: the value breaks the XML
    document.save(path)
    with pytest.raises(RenderError, match="document.xml"):
        render_template(path, {"x": "<w:unclosed>"})
    assert "a &amp; b" in _xml(render_template(path, {"x": "a &amp; b"}))


def test_a_missing_template_file_raises():
    with pytest.raises(FileNotFoundError):
        render_template(Path("/nonexistent/kelisim.docx"), {})


# -- the training and advisory papers of the 2017 cycle --------------------------------------

@pytest.mark.django_db
def test_cycle_generates_attendance_list_certificates_and_briefing_note(sample_round):
    from django.core.files.storage import default_storage

    from documents.models import Document
    from processes.advisory.models import AdvisoryMaterial
    from processes.training.models import TrainingModule

    module = TrainingModule.objects.get(round=sample_round)
    attended = list(module.attendances.filter(attended=True).select_related("case"))
    assert module.state == "completed" and attended

    def text_of(document):
        with default_storage.open(document.current_version.storage_key, "rb") as handle:
            return document_text(handle.read())

    attendance = Document.objects.get(owner_ref=sample_round.code, kind="training_attendance_list")
    assert attendance.stage == "training" and attendance.language == sample_round.language
    text = text_of(attendance)
    for a in attended:
        assert a.participant in text and a.case.name(sample_round.language) in text

    certificates = Document.objects.filter(owner_ref=sample_round.code, kind="training_certificate")
    assert certificates.count() == len(attended)
    for a in attended:
        certificate = certificates.get(key=f"module-{module.pk}-{a.pk}")
        assert certificate.language == a.case.language
        assert a.participant in text_of(certificate)

    note = AdvisoryMaterial.objects.get(round=sample_round, kind="briefing_note")
    document = Document.objects.get(owner_ref=sample_round.code, kind="briefing_note", key=f"advisory-{note.pk}")
    assert [v.number for v in document.versions.all()] == [1, 2]  # circulated, then final with comments
    text = text_of(document)
    assert note.partner_comments in text
    assert "\n".join(note.body.splitlines()) in text  # its two lines
    selected = sample_round.cases.filter(application__selection__state="selected")
    assert selected.exists() and all(c.ref in text for c in selected)


@pytest.mark.django_db
def test_no_certificate_for_an_absent_participant_or_an_open_module(sample_round):
    from processes.training.models import Attendance, TrainingModule
    from processes.training.services import certificate

    module = TrainingModule.objects.get(round=sample_round)
    absent = Attendance.objects.create(module=module, participant="Absent person", attended=False)
    with pytest.raises(ValueError, match="did not attend"):
        certificate(attendance=absent, actor=None)
    other = TrainingModule.objects.create(round=sample_round, title="Later", starts_on=module.starts_on,
                                          ends_on=module.ends_on)
    present = Attendance.objects.create(module=other, participant="Early bird", attended=True)
    with pytest.raises(ValueError, match="not completed"):
        certificate(attendance=present, actor=None)


@pytest.mark.django_db
def test_only_briefing_notes_have_a_document(sample_round):
    from processes.advisory.models import AdvisoryMaterial
    from processes.advisory.services import briefing_note

    agenda = AdvisoryMaterial.objects.create(round=sample_round, kind="agenda", title="Agenda")
    with pytest.raises(ValueError, match="not a briefing note"):
        briefing_note(material=agenda, actor=None)


def test_every_kind_has_a_title_and_a_code():
    from processes.rounds.paperwork import CODES, TITLES

    from .test_templates import KINDS

    assert set(TITLES) == set(KINDS) == set(CODES)
    assert all(set(TITLES[k]) == set(LANGS) for k in KINDS)
    assert len(set(CODES.values())) == len(CODES)
    assert all(re.fullmatch(r"[A-Z]{3}", c) for c in CODES.values())


def test_bench_contexts_cover_every_template_variable():
    """``bench/render.py`` renders every kind and language with a full context."""
    from docxtpl import DocxTemplate

    from bench import render as bench

    from .test_templates import KINDS

    assert set(bench.KINDS) == set(KINDS) and set(bench.LANGS) == set(LANGS)
    for kind in KINDS:
        used = DocxTemplate(str(template_path(kind, "ru"))).get_undeclared_template_variables()
        assert used <= set(bench.context(kind)), (kind, used - set(bench.context(kind)))
