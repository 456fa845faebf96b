"""PDF renditions through LibreOffice headless (``documents.pdf``, ``documents.jobs``).

Two groups:

* Every template in every language (picked up from ``documents/docx/<lang>/*.docx``) is
  rendered with the sample context of ``test_templates`` and converted by the real
  LibreOffice in ONE ``soffice`` run; the PDF's text (``pdftotext``) must hold every Kazakh
  letter the rendered ``.docx`` held, and a Kazakh PDF must embed the template's font.
  Without LibreOffice or poppler-utils these tests skip, except with ``CI=true``, where they
  fail (``.ci/run`` installs both).
* The rendition job (request, claim, store, fail) with a fake ``soffice`` script (a Python
  script set as ``KELISIM_SOFFICE``) for the failure paths and idempotency, and one real
  conversion end to end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from lxml import etree

from documents import pdf
from documents.models import Rendition
from documents.render import DOCX_CONTENT_TYPE, TEMPLATE_DIR, render_docx
from documents.storage import read_verified, store_version
from tests.documents.test_templates import CASE_NAME, KIND_KEYS, sample_context

IN_CI = os.environ.get("CI", "").lower() == "true"
KAZAKH = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
W_T = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}t"
# Fonts whose free metric-compatible twin (same advance widths, so the same line and page
# breaks) LibreOffice uses when the original is not installed; anything else is a fallback.
METRIC_TWINS = {"Times New Roman": "Liberation Serif", "Arial": "Liberation Sans",
                "Courier New": "Liberation Mono"}

TEMPLATES = sorted((path.parent.name, path.stem) for path in TEMPLATE_DIR.glob("*/*.docx"))


def require(program: str) -> str:
    """The path of ``program``; skip the test when it is missing (fail with ``CI=true``)."""
    path = shutil.which(program)
    if path is None:
        reason = f"{program} is not installed (Debian: libreoffice-writer-nogui, poppler-utils)"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def docx_text(data: bytes) -> str:
    """Every text run of a .docx: body, headers and footers."""
    parts = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if re.fullmatch(r"word/(document|header\d*|footer\d*)\.xml", name):
                root = etree.fromstring(archive.read(name))
                parts.extend(node.text or "" for node in root.iter(W_T))
    return "\n".join(parts)


def pdf_text(path: Path) -> str:
    return subprocess.run([require("pdftotext"), "-enc", "UTF-8", str(path), "-"], check=True,
                          capture_output=True).stdout.decode("utf-8")


def kazakh_letters(text: str) -> set[str]:
    """The Kazakh-only letters in ``text``, lower-cased (a run in small capitals or all caps
    prints a letter in the other case)."""
    return {ch.lower() for ch in text if ch in KAZAKH}


def template_font() -> str:
    """The ``FONT`` constant of ``documents/templates_src/build.py``."""
    spec = importlib.util.spec_from_file_location(
        "kelisim_template_build", TEMPLATE_DIR.parent / "templates_src" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FONT


def render_sample(lang: str, kind: str) -> bytes:
    """The template rendered with the sample context; a kind ``test_templates`` has no sample
    context for yet is converted as the bare template (its labels are still in ``lang``)."""
    if kind not in KIND_KEYS:
        return (TEMPLATE_DIR / lang / f"{kind}.docx").read_bytes()
    return render_docx(kind, lang, sample_context(kind))


# -- every template through the real LibreOffice ---------------------------------------------


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """``{(lang, kind): (docx bytes, pdf path)}`` for every template, from one soffice run."""
    require("soffice")
    work = tmp_path_factory.mktemp("pdf-all")
    sources = {}
    for lang, kind in TEMPLATES:
        path = work / f"{lang}-{kind}.docx"
        path.write_bytes(render_sample(lang, kind))
        sources[path] = (lang, kind)
    results = pdf.convert_files(list(sources), work / "out", timeout=600)
    return {sources[src]: (src.read_bytes(), out) for src, out in results.items()}


def test_templates_were_found():
    langs = {lang for lang, _ in TEMPLATES}
    assert {"ru", "kk", "en"} <= langs
    kinds = {lang: {kind for lg, kind in TEMPLATES if lg == lang} for lang in langs}
    assert kinds["kk"] == kinds["ru"] == kinds["en"]


@pytest.mark.parametrize("lang,kind", [pytest.param(*t, id="-".join(t)) for t in TEMPLATES])
def test_pdf_keeps_the_kazakh_letters(converted, lang, kind):
    source, out = converted[(lang, kind)]
    assert out.read_bytes().startswith(b"%PDF-")
    source_text, text = docx_text(source), pdf_text(out)
    expected = kazakh_letters(source_text)
    missing = expected - kazakh_letters(text)
    assert not missing, f"letters of the .docx missing from the PDF: {sorted(missing)}"
    if lang == "kk":
        assert len(expected) >= 5, f"a Kazakh template should use Kazakh letters, found {sorted(expected)}"
    if CASE_NAME in source_text:  # the sample case's name, with Қ and Ө, printed whole
        flat = " ".join(text.split())
        assert "<Қазақ>" in flat and '"Өнім"' in flat


def test_kazakh_pdf_embeds_the_template_font(converted):
    pdffonts = require("pdffonts")
    font = template_font()
    expected = METRIC_TWINS.get(font, font).replace(" ", "")
    for (lang, kind), (_, out) in converted.items():
        if lang != "kk":
            continue
        lines = subprocess.run([pdffonts, str(out)], check=True, capture_output=True,
                               text=True).stdout.splitlines()[2:]
        assert lines, kind
        for line in lines:
            name, emb = line.split()[0], line.split()[-5]
            base = name.split("+", 1)[-1]  # subset prefix ABCDEF+
            assert base.startswith(expected), f"{kind}: {base} is a fallback for {font}"
            assert emb == "yes", f"{kind}: {base} not embedded"


# -- renditions --------------------------------------------------------------------------------

FAKE_SOFFICE = """#!{python}
# A stand-in for soffice: KELISIM_FAKE_SOFFICE_MODE says what it does.
import os, pathlib, subprocess, sys, time
args = sys.argv[1:]
with open(os.environ["KELISIM_FAKE_SOFFICE_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
outdir = pathlib.Path(args[args.index("--outdir") + 1])
inputs = [pathlib.Path(a) for a in args[args.index("--outdir") + 2:]]
mode = os.environ.get("KELISIM_FAKE_SOFFICE_MODE", "pdf")
if mode == "pdf":
    for path in inputs:
        (outdir / (path.stem + ".pdf")).write_bytes(b"%PDF-1.4\\n% fake of " + path.read_bytes()[:16] + b"\\n%%EOF\\n")
elif mode == "slowpdf":  # a conversion that takes a while: concurrent runs overlap
    time.sleep(1)
    for path in inputs:
        (outdir / (path.stem + ".pdf")).write_bytes(b"%PDF-1.4\\n% slow\\n%%EOF\\n")
elif mode == "sleep":
    child = subprocess.Popen(["sleep", "60"])
    pathlib.Path(os.environ["KELISIM_FAKE_SOFFICE_PID"]).write_text(str(child.pid))
    time.sleep(60)
elif mode == "exit3":
    sys.stderr.write("boom: no display\\n")
    sys.exit(3)
elif mode == "nothing":
    print("Error: source file could not be loaded")
elif mode == "text":
    for path in inputs:
        (outdir / (path.stem + ".pdf")).write_text("not a pdf")
"""


@pytest.fixture
def fake_soffice(tmp_path, settings, monkeypatch):
    """Point KELISIM_SOFFICE at the fake; ``fake_soffice(mode)`` sets its behaviour.
    ``fake_soffice.runs()`` counts its invocations."""
    script = tmp_path / "soffice"
    script.write_text(FAKE_SOFFICE.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "soffice.log"
    log.touch()
    settings.KELISIM_SOFFICE = str(script)
    monkeypatch.setenv("KELISIM_FAKE_SOFFICE_LOG", str(log))
    monkeypatch.setenv("KELISIM_FAKE_SOFFICE_PID", str(tmp_path / "child.pid"))

    class Fake:
        pid_file = tmp_path / "child.pid"

        def __call__(self, mode: str) -> None:
            monkeypatch.setenv("KELISIM_FAKE_SOFFICE_MODE", mode)

        def runs(self) -> int:
            return len(log.read_text().splitlines())

    fake = Fake()
    fake("pdf")
    return fake


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create(username="pdf-requester")


@pytest.fixture
def docx_version(db, user):
    """A freshly generated kk decision notice (a real .docx version)."""
    from documents.services import generate_document

    return generate_document(owner_ref="PDF-TEST-1", stage="selection", kind="decision_notice", language="kk",
                             title="Шешім туралы хабарлама", context=sample_context("decision_notice"),
                             actor=user)


def stored_version(document, content: bytes):
    return store_version(document=document, content=content, extension="docx", content_type=DOCX_CONTENT_TYPE,
                         original_name="broken.docx")


def unchanged(version) -> bool:
    """The .docx version's row and bytes are as generated."""
    fresh = type(version).objects.get(pk=version.pk)
    data = read_verified(fresh)
    return (fresh.sha256 == version.sha256 == hashlib.sha256(data).hexdigest()
            and fresh.size == version.size and fresh.storage_key == version.storage_key
            and fresh.document.versions.count() == 1)


def new_rendition(version, user) -> Rendition:
    return Rendition.objects.create(source=version, requested_by=user)


def test_task_options():
    from django.conf import settings as conf

    from settings.celery import app

    app.loader.import_default_modules()  # what a worker does at start: discovers documents.jobs
    convert_to_pdf = app.tasks["documents.jobs.convert_to_pdf"]
    assert convert_to_pdf.acks_late is True
    assert convert_to_pdf.soft_time_limit == conf.KELISIM_PDF_TIMEOUT + pdf.SOFT_LIMIT_MARGIN
    assert convert_to_pdf.time_limit == conf.KELISIM_PDF_TIMEOUT + pdf.HARD_LIMIT_MARGIN
    assert convert_to_pdf.soft_time_limit < convert_to_pdf.time_limit


def test_request_queues_after_commit_and_returns_one_rendition(docx_version, user, fake_soffice, monkeypatch,
                                                                django_capture_on_commit_callbacks):
    from documents import jobs

    queued = []
    monkeypatch.setattr(jobs.convert_to_pdf, "delay", lambda rendition_id: queued.append(rendition_id))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        rendition = pdf.request_pdf(version=docx_version, user=user)
        assert queued == []  # not before commit
    assert len(callbacks) == 1 and queued == [rendition.pk]
    assert rendition.status == Rendition.Status.PENDING and rendition.requested_by == user
    with django_capture_on_commit_callbacks(execute=True):
        again = pdf.request_pdf(version=docx_version, user=user)
    assert again.pk == rendition.pk and queued == [rendition.pk, rendition.pk]  # pending: queued again
    assert Rendition.objects.filter(source=docx_version).count() == 1

    assert jobs.convert_to_pdf(rendition.pk) == "done"  # the task's body, inline
    with django_capture_on_commit_callbacks(execute=True):
        done = pdf.request_pdf(version=docx_version, user=user)
    assert done.status == Rendition.Status.DONE and len(queued) == 2  # done: not queued again
    assert fake_soffice.runs() == 1


def test_request_refuses_a_version_that_is_not_docx(docx_version, user):
    version = store_version(document=docx_version.document, content=b"%PDF-1.4", extension="pdf",
                            content_type="application/pdf", original_name="scan.pdf")
    with pytest.raises(pdf.NotConvertible, match="only Word .docx"):
        pdf.request_pdf(version=version, user=user)
    assert not Rendition.objects.filter(source=version).exists()


def test_success_stores_a_checksummed_pdf_and_audits_it(docx_version, user, fake_soffice):
    from workflow.audit import verify_chains
    from workflow.models import AuditEntry

    rendition = pdf.run_rendition(new_rendition(docx_version, user).pk)
    assert rendition.status == Rendition.Status.DONE and rendition.attempts == 1 and rendition.error == ""
    data = read_verified(rendition)
    assert data.startswith(b"%PDF-") and rendition.size == len(data)
    assert rendition.sha256 == hashlib.sha256(data).hexdigest()
    assert f"-v{docx_version.number}-" in rendition.storage_key and rendition.storage_key.endswith(".pdf")
    assert rendition.file_name == "Шешім туралы хабарлама.pdf" and rendition.content_type == "application/pdf"
    entry = AuditEntry.objects.filter(chain="PDF-TEST-1", transition="pdf_rendered").get()
    assert entry.actor == user and entry.object_id == str(rendition.pk)
    assert entry.data["sha256"] == rendition.sha256 and entry.data["source_sha256"] == docx_version.sha256
    assert verify_chains(["PDF-TEST-1"]).ok
    assert unchanged(docx_version)
    # a redelivered task does nothing to a done rendition
    again = pdf.run_rendition(rendition.pk)
    assert (again.status, again.storage_key, again.sha256, again.attempts) == \
        (Rendition.Status.DONE, rendition.storage_key, rendition.sha256, 1)
    assert fake_soffice.runs() == 1


def test_libreoffice_missing(docx_version, user, settings, tmp_path):
    settings.KELISIM_SOFFICE = str(tmp_path / "no-such-soffice")
    rendition = pdf.run_rendition(new_rendition(docx_version, user).pk)
    assert rendition.status == Rendition.Status.FAILED
    assert "LibreOffice is not installed" in rendition.error and "no-such-soffice" in rendition.error
    assert rendition.storage_key == "" and rendition.sha256 == "" and rendition.finished_at is not None
    assert unchanged(docx_version)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie is dead


def test_timeout_stops_libreoffice_and_everything_it_started(docx_version, user, fake_soffice, settings, caplog):
    fake_soffice("sleep")
    settings.KELISIM_PDF_TIMEOUT = 1
    rendition = pdf.run_rendition(new_rendition(docx_version, user).pk)
    assert rendition.status == Rendition.Status.FAILED
    assert rendition.error == "LibreOffice timed out after 1 s and was stopped"
    assert fake_soffice.pid_file.exists(), "the fake soffice did not start within the 1 s timeout"
    child = int(fake_soffice.pid_file.read_text())
    for _ in range(100):  # SIGKILL is delivered asynchronously; wait for it, do not time it
        if _gone(child):
            break
        time.sleep(0.05)
    assert _gone(child), "the process soffice started is still running"
    assert unchanged(docx_version)
    assert any("timed out" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_the_soft_time_limit_stops_libreoffice_and_fails_the_rendition(docx_version, user, fake_soffice):
    """Celery's soft time limit raises SoftTimeLimitExceeded in the task (billiard does it from
    a signal handler); here a timer signal does the same while soffice runs."""
    import signal

    from celery.exceptions import SoftTimeLimitExceeded

    def soft_limit(signum, frame):
        if not fake_soffice.pid_file.exists():  # soffice has not started its helper yet: wait
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            return
        raise SoftTimeLimitExceeded()

    fake_soffice("sleep")
    previous = signal.signal(signal.SIGALRM, soft_limit)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        rendition = pdf.run_rendition(new_rendition(docx_version, user).pk)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert rendition.status == Rendition.Status.FAILED
    assert rendition.error == f"the conversion task exceeded its time limit of {pdf.soft_time_limit():g} s"
    child = int(fake_soffice.pid_file.read_text())
    for _ in range(100):
        if _gone(child):
            break
        time.sleep(0.05)
    assert _gone(child), "the process soffice started is still running"
    assert unchanged(docx_version)


@pytest.mark.parametrize("mode,reason", [
    ("exit3", "LibreOffice exited with code 3: boom: no display"),
    ("nothing", "LibreOffice produced no PDF for document.docx: Error: source file could not be loaded"),
    ("text", "LibreOffice's output for document.docx is not a PDF"),
])
def test_libreoffice_failures_are_reported(docx_version, user, fake_soffice, mode, reason):
    fake_soffice(mode)
    rendition = pdf.run_rendition(new_rendition(docx_version, user).pk)
    assert (rendition.status, rendition.error) == (Rendition.Status.FAILED, reason)
    assert unchanged(docx_version)


def _docx_with_body(body: bytes) -> bytes:
    source = (TEMPLATE_DIR / "kk" / "decision_notice.docx").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, body if info.filename == "word/document.xml" else src.read(info))
    return out.getvalue()


@pytest.mark.parametrize("content,reason", [
    (b"PK\x03\x04 not really a zip", "not a Word .docx document (not a readable zip archive)"),
    (b"plain text pretending", "not a Word .docx document (not a readable zip archive)"),
    ("truncated", "not a Word .docx document (not a readable zip archive)"),
    ("no body", "not a Word .docx document (no word/document.xml)"),
    ("broken body", "damaged: word/document.xml is not well-formed"),
])
def test_corrupt_input_fails_with_a_reason(docx_version, user, fake_soffice, content, reason):
    real = read_verified(docx_version)
    if content == "truncated":
        content = real[: len(real) // 2]
    elif content == "no body":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("word/other.xml", "<x/>")
        content = out.getvalue()
    elif content == "broken body":
        content = _docx_with_body(b"<w:document broken")
    broken = stored_version(docx_version.document, content)
    rendition = pdf.run_rendition(new_rendition(broken, user).pk)
    assert rendition.status == Rendition.Status.FAILED and reason in rendition.error
    assert fake_soffice.runs() == 0  # refused before LibreOffice
    assert read_verified(broken) == content


def test_tampered_source_fails_and_is_not_converted(docx_version, user, fake_soffice, media_root, restore_file):
    path = restore_file(Path(media_root) / docx_version.storage_key)
    path.write_bytes(path.read_bytes() + b"x")
    rendition = pdf.run_rendition(new_rendition(docx_version, user).pk)
    assert rendition.status == Rendition.Status.FAILED
    assert rendition.error.startswith("the source could not be read:") and "sha256" in rendition.error
    assert fake_soffice.runs() == 0


def test_a_running_rendition_is_left_to_its_run(docx_version, user, fake_soffice):
    rendition = new_rendition(docx_version, user)
    Rendition.objects.filter(pk=rendition.pk).update(status=Rendition.Status.RUNNING, started_at=timezone.now(),
                                                     attempts=1)
    assert pdf.run_rendition(rendition.pk).status == Rendition.Status.RUNNING  # a redelivered task
    assert pdf.request_pdf(version=docx_version, user=user).status == Rendition.Status.RUNNING
    assert fake_soffice.runs() == 0
    # past the hard time limit the claim is dead: the next run takes over
    later = timezone.now() + dt.timedelta(seconds=pdf.hard_time_limit() + 1)
    taken = pdf.run_rendition(rendition.pk, now=later)
    assert (taken.status, taken.attempts) == (Rendition.Status.DONE, 2)
    assert fake_soffice.runs() == 1


def test_a_request_requeues_a_rendition_whose_worker_died(docx_version, user, fake_soffice, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    from documents import jobs

    queued = []
    monkeypatch.setattr(jobs.convert_to_pdf, "delay", lambda rendition_id: queued.append(rendition_id))
    rendition = new_rendition(docx_version, user)
    long_ago = timezone.now() - dt.timedelta(seconds=pdf.hard_time_limit() + 1)
    Rendition.objects.filter(pk=rendition.pk).update(status=Rendition.Status.RUNNING, started_at=long_ago, attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        again = pdf.request_pdf(version=docx_version, user=user)
    assert again.status == Rendition.Status.PENDING and queued == [rendition.pk]


def test_a_run_whose_claim_was_taken_over_keeps_no_pdf(docx_version, user, monkeypatch, media_root):
    rendition = new_rendition(docx_version, user)

    def slow_conversion(data, *, timeout):  # meanwhile another run claims the rendition
        Rendition.objects.filter(pk=rendition.pk).update(attempts=2, started_at=timezone.now())
        return b"%PDF-1.4 stale\n"

    monkeypatch.setattr(pdf, "convert_docx_to_pdf", slow_conversion)
    before = {p for p in Path(media_root).rglob("*.pdf")}
    result = pdf.run_rendition(rendition.pk)
    assert (result.status, result.attempts, result.storage_key) == (Rendition.Status.RUNNING, 2, "")
    assert {p for p in Path(media_root).rglob("*.pdf")} == before  # its file was deleted again


def test_a_failed_rendition_may_be_requested_again(docx_version, user, fake_soffice, settings, monkeypatch,
                                                   django_capture_on_commit_callbacks):
    from documents import jobs

    monkeypatch.setattr(jobs.convert_to_pdf, "delay", lambda rendition_id: jobs.convert_to_pdf(rendition_id))
    fake_soffice("exit3")
    with django_capture_on_commit_callbacks(execute=True):
        first = pdf.request_pdf(version=docx_version, user=user)
    first.refresh_from_db()
    assert first.status == Rendition.Status.FAILED and "code 3" in first.error
    fake_soffice("pdf")
    with django_capture_on_commit_callbacks(execute=True):
        pdf.request_pdf(version=docx_version, user=user)
    first.refresh_from_db()
    assert (first.status, first.error, first.attempts) == (Rendition.Status.DONE, "", 2)
    assert default_storage.exists(first.storage_key)


def test_real_conversion_end_to_end(docx_version, user, settings, django_capture_on_commit_callbacks):
    require("soffice")
    from documents.jobs import convert_to_pdf

    settings.KELISIM_SOFFICE = "soffice"
    rendition = new_rendition(docx_version, user)
    convert_to_pdf.apply(args=[rendition.pk])  # through Celery, in this process
    rendition.refresh_from_db()
    assert rendition.status == Rendition.Status.DONE, rendition.error
    data = read_verified(rendition)
    path = Path(default_storage.path(rendition.storage_key))
    assert data.startswith(b"%PDF-") and path.read_bytes() == data
    text = " ".join(pdf_text(path).split())
    assert "<Қазақ>" in text and "хабарлама" in text.lower()
    assert unchanged(docx_version)


# -- the portal: coordinators ask for a PDF, whoever sees the .docx downloads it ----------------


@pytest.fixture
def portal(db, fake_soffice, monkeypatch):
    """Demo users; the conversion job runs inline when the request's transaction commits."""
    from django.core.management import call_command

    from documents import jobs

    call_command("create_demo_users", stdout=io.StringIO())
    monkeypatch.setattr(jobs.convert_to_pdf, "delay", lambda rendition_id: jobs.convert_to_pdf(rendition_id))
    return fake_soffice


def case_version(number: str = "A1"):
    from documents.models import DocumentVersion

    return (DocumentVersion.objects.filter(document__owner_ref=f"TC-2017/{number}", content_type=DOCX_CONTENT_TYPE)
            .select_related("document").order_by("pk").first())


def as_user(client, username: str):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username=username))
    return client


def test_coordinator_gets_a_pdf_from_the_case_page(portal, client, django_capture_on_commit_callbacks):
    from django.urls import reverse

    from processes.rounds.models import Case

    version = case_version()
    case_page = reverse("portal:case-detail", args=[Case.objects.get(ref=version.document.owner_ref).pk])
    as_user(client, "coordinator")
    assert reverse("portal:document-pdf", args=[version.pk]).encode() in client.get(case_page).content  # button
    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # the job runs after the commit
        response = client.post(reverse("portal:document-pdf", args=[version.pk]), follow=True)
    rendition = Rendition.objects.get(source=version)
    status_page = reverse("portal:rendition-status", args=[rendition.pk])
    assert response.redirect_chain[-1] == (status_page, 302) and len(callbacks) == 1
    assert rendition.status == Rendition.Status.DONE
    download = reverse("portal:rendition-download", args=[rendition.pk])
    assert download.encode() in client.get(status_page).content  # the progress page links the PDF
    assert download.encode() in client.get(case_page).content
    pdf_response = client.get(download)
    assert pdf_response.status_code == 200 and pdf_response["Content-Type"] == "application/pdf"
    assert pdf_response.content.startswith(b"%PDF-")
    assert pdf_response["X-Content-SHA256"] == hashlib.sha256(pdf_response.content).hexdigest() == rendition.sha256
    assert ".pdf" in pdf_response["Content-Disposition"]
    assert unchanged_bytes(version)
    # asking again: the PDF is ready, nothing is converted again
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(reverse("portal:document-pdf", args=[version.pk]), follow=True)
    assert again.redirect_chain[-1] == (status_page, 302) and portal.runs() == 1
    assert b'data-status="done"' in again.content
    # the applicant of the case downloads it too (it may download the .docx)
    assert as_user(client, "applicant-a1").get(download).status_code == 200


def unchanged_bytes(version) -> bool:
    fresh = type(version).objects.get(pk=version.pk)
    return fresh.sha256 == version.sha256 == hashlib.sha256(read_verified(fresh)).hexdigest()


def test_a_failed_conversion_shows_the_reason(portal, client, monkeypatch):
    from django.urls import reverse

    portal("exit3")
    version = case_version()
    as_user(client, "coordinator")
    # embedded mode: the request commits and the eager job runs before the view answers
    monkeypatch.setattr("django.db.transaction.on_commit", lambda func, *args, **kwargs: func())
    response = client.post(reverse("portal:document-pdf", args=[version.pk]), follow=True)
    text = response.content.decode()
    assert response.redirect_chain[-1][0].startswith("/documents/renditions/")
    assert "could not be made: LibreOffice exited with code 3: boom: no display" in text
    assert "The Word file is unchanged" in text
    assert b"Try PDF again" in response.content
    assert Rendition.objects.get(source=version).status == Rendition.Status.FAILED
    assert unchanged_bytes(version)


@pytest.mark.parametrize("username", ["auditor", "applicant-a1", "expert1"])
def test_only_coordinators_may_ask(portal, client, username):
    from django.urls import reverse

    version = case_version()
    response = as_user(client, username).post(reverse("portal:document-pdf", args=[version.pk]))
    assert response.status_code == 403
    assert not Rendition.objects.filter(source=version).exists()
    assert portal.runs() == 0
    # and the case page offers them no button they may not use
    from processes.rounds.models import Case

    page = client.get(reverse("portal:case-detail", args=[Case.objects.get(ref=version.document.owner_ref).pk]))
    assert page.status_code in (200, 404)
    assert reverse("portal:document-pdf", args=[version.pk]).encode() not in page.content


def test_a_version_that_is_not_word_is_400(portal, client):
    from django.urls import reverse

    version = case_version()
    scan = store_version(document=version.document, content=b"%PDF-1.4\n%%EOF\n", extension="pdf",
                         content_type="application/pdf", original_name="scan.pdf")
    response = as_user(client, "coordinator").post(reverse("portal:document-pdf", args=[scan.pk]))
    assert response.status_code == 400 and "is not a Word .docx file" in response.content.decode()
    assert not Rendition.objects.filter(source=scan).exists()


@pytest.mark.parametrize("name", ["document-pdf", "rendition-download"])
def test_unknown_and_huge_ids_are_404(portal, client, name):
    from django.urls import reverse

    as_user(client, "coordinator")
    for pk in (10**6, 2**63 + 1):
        url = reverse(f"portal:{name}", args=[pk])
        response = client.post(url) if name == "document-pdf" else client.get(url)
        assert response.status_code == 404, pk


def test_a_pdf_not_done_is_404_and_a_changed_pdf_is_409(portal, client, media_root, restore_file):
    from django.urls import reverse

    version = case_version()
    rendition = new_rendition(version, None)
    as_user(client, "coordinator")
    assert client.get(reverse("portal:rendition-download", args=[rendition.pk])).status_code == 404
    done = pdf.run_rendition(rendition.pk)
    path = restore_file(Path(media_root) / done.storage_key)
    path.write_bytes(path.read_bytes().replace(b"%PDF-1.4", b"%PDF-1.5"))
    response = client.get(reverse("portal:rendition-download", args=[rendition.pk]))
    assert response.status_code == 409 and "no longer matches its recorded sha256" in response.content.decode()


# -- concurrent runs on PostgreSQL -------------------------------------------------------------

CI_REQUIRES_POSTGRES = IN_CI and os.environ.get("DATABASE_URL", "").startswith("postgres")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_of_one_rendition_make_one_pdf(fake_soffice, django_user_model):
    """Four workers get the same rendition at once (a redelivery while the first still runs):
    one converts, the others see its claim and leave; one PDF, one audit entry."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from documents.services import generate_document
    from workflow.models import AuditEntry

    if connection.vendor != "postgresql":
        if CI_REQUIRES_POSTGRES:
            pytest.fail("CI=true with a postgres DATABASE_URL, but the connection is not PostgreSQL")
        pytest.skip("real concurrent connections need PostgreSQL (DATABASE_URL=postgres://...)")
    fake_soffice("slowpdf")
    requester = django_user_model.objects.create(username="pdf-racer")
    version = generate_document(owner_ref="PDF-RACE-1", stage="selection", kind="decision_notice", language="kk",
                                title="Race", context=sample_context("decision_notice"), actor=requester)
    rendition = new_rendition(version, requester)
    barrier = threading.Barrier(4)

    def worker(_):
        from django.db import connection as own

        try:
            barrier.wait(timeout=30)
            return pdf.run_rendition(rendition.pk).status
        finally:
            own.close()

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(worker, range(4)))
    assert fake_soffice.runs() == 1
    assert statuses.count("done") == 1 and statuses.count("running") == 3, statuses
    rendition.refresh_from_db()
    assert (rendition.status, rendition.attempts) == (Rendition.Status.DONE, 1)
    assert read_verified(rendition).startswith(b"%PDF-")
    assert AuditEntry.objects.filter(chain="PDF-RACE-1", transition="pdf_rendered").count() == 1
    prefix = Path(default_storage.path(rendition.storage_key)).parent
    assert [p.name for p in prefix.glob("*.pdf")] == [Path(rendition.storage_key).name]
