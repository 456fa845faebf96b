"""Journeys through the portal in Chromium, as new users would make them (issue 6).

One story on the server of ``conftest.py`` (the 2017 cycle, the demo users, an open round and
a plan waiting for its signatories; see ``seed.py``), in order, each journey in a fresh
browser (no cookies) and logged in through the login form with the demo password:

1. the applicant switches the interface to Kazakh, files a new application to the open round,
   attaches ``Өтінім №5.docx`` on the case page, submits the application and later downloads
   the attachment: same name, same bytes;
2. the coordinator finds it on the work page (filters), accepts it (the completeness check),
   moves the case on to selection and assigns two experts;
3. an expert scores it on the score sheet page: every criterion, then submit;
4. both signatories approve the development plan waiting for them, with a comment, on the
   signatory page;
5. the auditor finds those decisions in the history search and downloads the case dossier
   (a ZIP with ``manifest.json``).

Steps wait for elements (Playwright's auto-waiting ``expect``), never for a fixed time.
A failed journey saves a screenshot (``var/screenshots/<test>.png``). Later journeys use what
earlier ones did; when one fails, those that need its result are skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

import pytest

from processes.rounds.management.commands.create_demo_users import demo_password

REPO = Path(__file__).resolve().parents[2]
ATTACHMENT_NAME = "Өтінім №5.docx"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def expect(target):
    """Playwright's auto-waiting assertions (imported late: Playwright may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def kazakh(msgid: str) -> str:
    """The Kazakh translation of interface string ``msgid``, as the server renders it (the
    compiled catalogues); it must differ from the English text."""
    from django.utils import translation

    with translation.override("kk"):
        text = translation.gettext(msgid)
    assert text != msgid, f"no Kazakh translation of {msgid!r}"
    return text


def make_docx(path: Path, text: str) -> bytes:
    """Write a real Word document holding ``text`` at ``path``; return its bytes."""
    import docx

    document = docx.Document()
    document.add_heading("Өтінім", level=1)
    document.add_paragraph(text)
    document.save(str(path))
    return path.read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def story():
    """What the journeys pass on to each other (the applicant's case, the decisions)."""
    return {}


def needs(story: dict, *keys: str):
    """Skip a journey whose earlier journey did not leave ``keys``."""
    absent = [k for k in keys if k not in story]
    if absent:
        pytest.skip(f"an earlier journey failed (missing: {', '.join(absent)})")


# -- steps every journey shares ------------------------------------------------------------------


def log_in(page, server, username: str):
    """Open the portal, log in through the form as ``username`` with its demo password."""
    page.goto(server.url("/"))
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(demo_password(username))
    page.locator("form[action$='/accounts/login/'] button[type=submit]").click()
    expect(page.locator("header .who")).to_be_visible()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def nav(page, path: str):
    """Follow the header's navigation link to ``path`` (links are found by target, so the
    step works in every language)."""
    page.locator(f"header nav a[href='{path}']").click()
    expect(page).to_have_url(re.compile(re.escape(path) + r"(\?.*)?$"))


def case_path(url: str) -> str:
    match = re.search(r"/cases/(\d+)/", url)
    assert match, url
    return f"/cases/{match.group(1)}/"


# -- 1. applicant ----------------------------------------------------------------------------------


def test_applicant_files_an_application_in_kazakh_with_an_attachment(page, server, story, tmp_path):
    open_round = server.facts["open_round"]
    log_in(page, server, "applicant-a1")

    # The switcher, as a person uses it: choose Қазақша, press the button; the page comes back in Kazakh.
    page.locator("#language-select").select_option("kk")
    page.locator("#language-submit").click()
    expect(page.locator("html")).to_have_attribute("lang", "kk")
    expect(page.locator("header nav a[href='/inbox/']")).to_have_text(kazakh("Inbox"))
    expect(page.locator("form[action$='/logout/'] button")).to_have_text(kazakh("Log out"))

    # A new application to the open round (after `make demo`: the illustrative follow-up round of
    # open_demo_round), reached as a person would: the navigation offers it, in Kazakh.
    apply_link = page.locator(f"header nav a#nav-apply-{open_round}")
    expect(apply_link).to_have_text(kazakh("Apply to %(round)s") % {"round": open_round})
    nav(page, f"/rounds/{open_round}/apply/")
    form = page.locator("form#application-form")
    expect(form.locator("#application-create")).to_have_text(kazakh("Save the draft application"))
    values = {"name_en": "Turkistan Textile Cluster", "name_kk": "Түркістан тоқыма кластері",
              "name_ru": "Туркестанский текстильный кластер", "region": "Turkistan region", "city": "Turkistan",
              "sector": "textiles", "anchor_enterprises": "3", "smes": "41", "employees": "2600",
              "export_share_pct": "14.5", "research_partners": "2"}
    for name, value in values.items():
        form.locator(f"input[name={name}]").fill(value)
    form.locator("select[name=language]").select_option("kk")
    form.locator("#application-create").click()
    expect(page).to_have_url(re.compile(r"/cases/\d+/$"))
    case_url = case_path(page.url)
    expect(page.locator("h1")).to_contain_text("Түркістан тоқыма кластері")
    ref = page.locator("h1").inner_text().split(" · ")[0].strip()
    assert ref.startswith(f"{open_round}/A"), ref
    story.update(case_url=case_url, case_pk=int(case_url.strip("/").split("/")[-1]), case_ref=ref)

    # The attachment: a real Word file with a Kazakh name, through the case page's upload form.
    original = make_docx(tmp_path / ATTACHMENT_NAME, "Кластердің даму бағдарламасы.")
    page.locator("#attachment-file").set_input_files(str(tmp_path / ATTACHMENT_NAME))
    page.locator("form[action$='/attachments/'] button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text(ATTACHMENT_NAME)
    attachment = page.locator("#attachments + table tr", has_text=ATTACHMENT_NAME)
    expect(attachment).to_contain_text(DOCX)  # typed by its content: a Word document

    # Submit the application from its page, linked from the case page.
    page.locator("#application-edit-link").click()
    expect(page).to_have_url(re.compile(re.escape(f"{case_url}application/") + "$"))
    expect(page.locator("#application-state")).to_have_attribute("data-state", "draft")
    page.locator("#application-submit").click()
    expect(page).to_have_url(re.compile(re.escape(case_url) + "$"))
    expect(page.locator(".messages")).to_contain_text(ref)
    expect(page.locator("dl.facts")).to_contain_text(kazakh("submitted"))
    story["submitted"] = True

    # Later, on the case page: the attachment comes back under its name, byte for byte.
    attachment = page.locator("#attachments + table tr", has_text=ATTACHMENT_NAME)
    with page.expect_download() as info:
        attachment.locator("a[href*='/download/']").click()
    download = info.value
    assert download.suggested_filename == ATTACHMENT_NAME
    saved = tmp_path / "downloaded.docx"
    download.save_as(saved)
    assert sha256(saved.read_bytes()) == sha256(original)


# -- 2. coordinator --------------------------------------------------------------------------------


def test_coordinator_accepts_the_application(page, server, story):
    needs(story, "submitted")
    ref, pk = story["case_ref"], story["case_pk"]
    log_in(page, server, "coordinator")

    def find_the_application():
        """The work page, filtered to the open round's cases named "Turkistan...": just ours."""
        nav(page, "/work/")
        filters = page.locator("form#work-filters")
        filters.locator("select[name=round]").select_option(server.facts["open_round"])
        filters.locator("input[name=q]").fill("Turkistan")
        filters.locator("#work-filter-submit").click()
        expect(page.locator("tr[data-testid=work-case]")).to_have_count(1)
        return page.locator(f"tr[data-testid=work-case][data-ref='{ref}']")

    # The completeness check: accept.
    check = find_the_application().locator("form[data-testid=completeness-check]")
    check.locator("select[name=transition]").select_option("accept")
    check.locator("input[name=comment]").fill("Complete and eligible.")
    check.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("accept")

    # On to selection: the case page shows the accepted application in the selection stage. An
    # accepted application may move its case on by itself (the completeness decision's
    # consequences); otherwise the coordinator takes the case's transition.
    advance = find_the_application().locator(f"#case-{pk}-advance_to_selection")
    if advance.count():
        advance.click()
    else:
        page.goto(server.url(story["case_url"]))
    expect(page).to_have_url(re.compile(re.escape(story["case_url"]) + "$"))
    expect(page.locator("dl.facts")).to_contain_text("accepted")
    expect(page.locator("dl.facts")).to_contain_text("selection")

    # Two experts to score it.
    assign = find_the_application().locator("form[data-testid=assign-experts]")
    experts = assign.locator("select[name=experts]")
    chosen = [experts.locator("option", has_text=f"({name})").get_attribute("value")
              for name in ("expert1", "expert2")]
    experts.select_option(chosen)
    assign.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text(ref)
    expect(page.locator(f"tr[data-testid=work-case][data-ref='{ref}'] form[data-testid=assign-experts]")).to_have_count(0)
    story["accepted"] = True


# -- 3. expert -------------------------------------------------------------------------------------


def test_expert_scores_the_application(page, server, story):
    needs(story, "accepted")
    ref = story["case_ref"]
    log_in(page, server, "expert1")
    nav(page, "/expert/")
    row = page.locator(f"tr[data-testid=score-sheet-row][data-ref='{ref}']")
    expect(row).to_have_attribute("data-state", "draft")
    row.locator("a[href*='/expert/sheets/']").click()
    inputs = page.locator("#criteria input[type=number]")
    expect(inputs).to_have_count(7)  # the sample round's criteria C1..C7, weights summing to 100
    for i in range(7):
        inputs.nth(i).fill("8")
    page.locator("#criteria textarea").first.fill("Strong export orientation.")
    page.locator("#sheet-submit").click()
    expect(page.locator(".messages")).to_contain_text(ref)
    row = page.locator(f"tr[data-testid=score-sheet-row][data-ref='{ref}']")
    expect(row).to_have_attribute("data-state", "submitted")
    expect(row).to_contain_text("80.00")  # 8 of 10 on every criterion: 80 of 100
    story["scored"] = True


# -- 4. signatories --------------------------------------------------------------------------------


@pytest.mark.parametrize("signatory", ["signatory1", "signatory2"])
def test_signatory_approves_the_plan(page, server, story, signatory):
    ref = server.facts["signing_case"]["ref"]
    log_in(page, server, signatory)
    nav(page, "/approvals/")
    row = page.locator(f"tr[data-testid=approval-row][data-case='{ref}']")
    expect(row).to_have_count(1)

    # The exact version decided on: its preview shows the same sha256.
    sha = row.locator("code.sha256").inner_text().strip()
    row.locator("[data-testid=preview-link]").click()
    expect(page.locator("#preview-sha256")).to_have_text(sha)
    expect(page.locator("#document-preview")).to_be_visible()
    page.go_back()

    comment = f"Approved by {signatory}: the plan is sound."
    approve = page.locator(f"tr[data-testid=approval-row][data-case='{ref}'] form[data-testid=approve-form]")
    approve.locator("input[name=comment]").fill(comment)
    approve.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_be_visible()
    nav(page, "/approvals/")
    expect(page.locator(f"tr[data-testid=approval-row][data-case='{ref}']")).to_have_count(0)
    story.setdefault("signed", []).append((signatory, comment))


# -- 5. auditor ------------------------------------------------------------------------------------


def test_auditor_finds_the_decisions_and_downloads_the_dossier(page, server, story, tmp_path):
    needs(story, "signed")
    ref, pk = server.facts["signing_case"]["ref"], server.facts["signing_case"]["pk"]
    log_in(page, server, "auditor")
    nav(page, "/audit/")
    search = page.locator("form#audit-search")
    search.locator("input[name=case]").fill(ref)
    search.locator("input[name=transition]").fill("approve")
    search.locator("#audit-search-submit").click()
    found = page.locator(f"tr[data-testid=audit-entry][data-chain='{ref}'][data-transition=approve]")
    for signatory, comment in story["signed"]:  # each signatory's decision, with its comment
        expect(found.filter(has_text=comment)).to_contain_text(signatory)
    expect(found.filter(has_text="approvals.approval")).to_have_count(1)  # and the approval concluded

    # The case's timeline, and its dossier from there.
    found.first.locator("[data-testid=timeline-link]").click()
    expect(page).to_have_url(re.compile(rf"/cases/{pk}/"))
    with page.expect_download() as info:
        page.locator(f"a[href='/cases/{pk}/dossier/']").click()
    download = info.value
    assert download.suggested_filename.startswith("dossier-") and download.suggested_filename.endswith(".zip")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["case"]["ref"] == ref
        assert manifest["generated_by"] == "auditor"
        for item in manifest["files"]:  # every file is the one the manifest names
            assert sha256(archive.read(item["path"])) == item["sha256"], item["path"]
        entries = archive.read("audit/entries.json").decode("utf-8")
    for _signatory, comment in story["signed"]:
        assert comment in entries

    # Verified back on the auditor's page: intact, and it agrees with the installation.
    nav(page, "/audit/")
    page.locator("#dossier-verify-link").click()
    page.locator("#dossier-file").set_input_files(str(saved))
    page.locator("#dossier-database").check()
    page.locator("#dossier-verify-submit").click()
    result = page.locator("#dossier-result")
    expect(result).to_have_attribute("data-ok", "true")
    expect(page.locator("#dossier-head")).to_have_text(manifest["audit"]["head_hash"])
