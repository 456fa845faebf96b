"""The case page: state diagrams (SVG from the django-fsm definitions), comments, the timeline.

Data: the session's 2017 cycle plus the demo users, created in a module transaction that is
rolled back at the end; each test runs in its own savepoint.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from processes.portal import comments, diagrams
from processes.portal.models import MAX_COMMENT_LENGTH, CaseComment
from processes.rounds.models import Case
from workflow.audit import verify_chains
from workflow.models import AuditEntry

from .roles_support import as_user, case, user  # noqa: E402
from . import roles_support  # noqa: E402

pytestmark = pytest.mark.django_db
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
SVG = "{http://www.w3.org/2000/svg}"


users = roles_support.people  # the demo users, rolled back after the module









# -- the state graph -------------------------------------------------------------------------

def test_state_graph_follows_the_fsm_definitions():
    states, edges = diagrams.state_graph(Case)
    field = diagrams.state_field(Case)
    assert [v for v, _ in states] == [str(v) for v in Case.State.values]
    expected = set()
    for trans in field.get_all_transitions(Case):
        targets = getattr(trans.target, "allowed_states", None) or [trans.target]
        sources = [trans.source] if isinstance(trans.source, str) else trans.source
        expected |= {(str(s), str(t), trans.name) for s in sources for t in targets}
    assert set(edges) == expected
    # RETURN_VALUE: resume leads back to each stage a suspension may interrupt
    assert {t for s, t, n in edges if n == "resume"} == {"diagnosis", "planning", "support", "implementation"}


def test_a_model_without_a_state_field_is_refused():
    with pytest.raises(ValueError, match="no django-fsm state field"):
        diagrams.state_graph(get_user_model())


@needs_dot
def test_the_svg_marks_the_current_state_and_escapes_labels(monkeypatch):
    nasty = '<script>alert("x")</script> & \\l'
    monkeypatch.setattr(diagrams, "state_graph", lambda model: ([("a", nasty), ("b", "plain")], [("a", "b", "go")]))
    diagrams._cache.clear()
    svg = diagrams.render_svg(Case, frozenset({"a"}), title="T <&>")
    root = ET.fromstring(svg)  # well-formed XML: every label was escaped
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert f"{nasty} ●" in texts and "plain" in texts
    assert "<script>" not in svg
    current = [g for g in root.iter(f"{SVG}g") if g.get("id") == "state-a"]
    assert current and diagrams.CURRENT_FILL in ET.tostring(current[0], encoding="unicode")
    other = [g for g in root.iter(f"{SVG}g") if g.get("id") == "state-b"]
    assert diagrams.CURRENT_FILL not in ET.tostring(other[0], encoding="unicode")
    diagrams._cache.clear()


@needs_dot
def test_the_svg_is_cached_per_model_and_state(monkeypatch):
    import graphviz

    diagrams._cache.clear()
    runs = []
    real = graphviz.Digraph.pipe

    def counting(self, *args, **kwargs):
        runs.append(self.name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(graphviz.Digraph, "pipe", counting)
    first = diagrams.render_svg(Case, frozenset({"planning"}))
    assert diagrams.render_svg(Case, frozenset({"planning"})) == first
    assert len(runs) == 1
    assert diagrams.render_svg(Case, frozenset({"support"})) != first
    assert len(runs) == 2
    diagrams._cache.clear()


def test_without_dot_the_diagram_answers_503_with_a_message(users, client, monkeypatch):
    import graphviz

    def missing(self, *args, **kwargs):
        raise graphviz.ExecutableNotFound(("dot",))

    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    diagrams._cache.clear()
    response = as_user(client, "coordinator").get(reverse("portal:case-diagram", args=[case("A1").pk]))
    assert response.status_code == 503
    assert "dot" in response.content.decode()


# -- the diagram endpoint --------------------------------------------------------------------

@needs_dot
def test_the_case_diagram_and_its_stage_diagram(users, client):
    a1 = case("A1")
    as_user(client, "applicant-a1")
    response = client.get(reverse("portal:case-diagram", args=[a1.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    root = ET.fromstring(response.content)
    ids = {g.get("id") for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("state-")}
    assert ids == {f"state-{v}" for v in Case.State.values}
    current = next(g for g in root.iter(f"{SVG}g") if g.get("id") == f"state-{a1.state}")
    assert diagrams.CURRENT_FILL in ET.tostring(current, encoding="unicode")

    stage = client.get(reverse("portal:case-diagram", args=[a1.pk]) + "?of=stage")
    assert stage.status_code == 200
    implementation = a1.implementation
    root = ET.fromstring(stage.content)
    ids = {g.get("id") for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("state-")}
    assert f"state-{implementation.state}" in ids
    assert f"state-{a1.state}" not in ids or implementation.state == a1.state


def test_diagram_bad_inputs(users, client):
    as_user(client, "applicant-a1")
    url = reverse("portal:case-diagram", args=[case("A1").pk])
    assert client.get(url + "?of=bogus").status_code == 400
    assert client.get(reverse("portal:case-diagram", args=[case("A2").pk])).status_code == 404  # not its case
    assert client.get(reverse("portal:case-diagram", args=[987654321])).status_code == 404
    bare = Case.objects.create(round=case("A1").round, ref="TC-2017/Z9", number="Z9", name_en="No application")
    as_user(client, "coordinator")
    assert client.get(reverse("portal:case-diagram", args=[bare.pk]) + "?of=stage").status_code == 404


def test_stage_objects_follow_the_case_state(users):
    a1 = case("A1")
    assert diagrams.stage_objects(a1) == [a1.implementation]
    a9 = case("A9")  # refused at submission
    assert diagrams.stage_objects(a9) == [a9.application]
    parts = diagrams.diagram_parts(a1)
    assert [p["of"] for p in parts] == ["case", "stage"]
    assert parts[1]["current"] == frozenset({a1.implementation.state})


def test_the_case_page_shows_diagrams_timeline_and_comment_form(users, client):
    a1 = case("A1")
    response = as_user(client, "auditor").get(reverse("portal:case-detail", args=[a1.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("portal:case-diagram", args=[a1.pk]) + "?of=case" in html
    assert reverse("portal:case-diagram", args=[a1.pk]) + "?of=stage" in html
    assert 'class="timeline"' in html
    entries = AuditEntry.objects.filter(chain=a1.ref).count()
    assert html.count('id="entry-') == entries
    # an auditor changes nothing: no comment form (a coordinator has one)
    assert reverse("portal:case-comment", args=[a1.pk]) not in html
    coordinator = as_user(client, "coordinator").get(reverse("portal:case-detail", args=[a1.pk]))
    assert reverse("portal:case-comment", args=[a1.pk]) in coordinator.content.decode()
    assert "<script" not in html  # the Content-Security-Policy allows no inline script


def test_the_case_page_gives_the_reason_of_an_unavailable_transition(users, client):
    a1 = case("A1")
    response = as_user(client, "auditor").get(reverse("portal:case-detail", args=[a1.pk]))
    refused = [o for o in response.context["transitions"] if not o.allowed]
    assert refused and all(o.reason for o in refused)
    for option in refused:
        assert str(option.reason) in response.content.decode().replace("&#x27;", "'")


# -- comments ----------------------------------------------------------------------------------

def test_an_applicant_comments_on_its_own_case(users, client):
    a1 = case("A1")
    entries = AuditEntry.objects.filter(chain=a1.ref).count()
    as_user(client, "applicant-a1")
    response = client.post(reverse("portal:case-comment", args=[a1.pk]), {"text": "  Қосымша құжат жібердік.  "})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:case-detail", args=[a1.pk]) + "#comments"
    comment = CaseComment.objects.get(case=a1)
    assert (comment.text, comment.author.username) == ("Қосымша құжат жібердік.", "applicant-a1")
    entry = AuditEntry.objects.filter(chain=a1.ref).order_by("-seq").first()
    assert AuditEntry.objects.filter(chain=a1.ref).count() == entries + 1
    assert (entry.transition, entry.from_state, entry.to_state) == (comments.COMMENT_ADDED, "", "")
    assert (entry.comment, entry.actor_username, entry.object_id) == (comment.text, "applicant-a1", str(comment.pk))
    assert verify_chains(chains=[a1.ref]).broken is None
    page = client.get(reverse("portal:case-detail", args=[a1.pk])).content.decode()
    assert page.count("Қосымша құжат жібердік.") == 2  # in the comments and in the timeline


def test_an_applicant_may_not_comment_on_another_case(users, client):
    a2 = case("A2")
    entries = AuditEntry.objects.count()
    response = as_user(client, "applicant-a1").post(reverse("portal:case-comment", args=[a2.pk]), {"text": "hi"})
    assert response.status_code == 404
    assert not CaseComment.objects.exists() and AuditEntry.objects.count() == entries


@pytest.mark.parametrize("text", ["", "   \n ", None, "x" * (MAX_COMMENT_LENGTH + 1), "a\x00b"])
def test_a_bad_comment_is_refused_with_a_message_and_writes_nothing(users, client, text):
    a1 = case("A1")
    entries = AuditEntry.objects.count()
    data = {} if text is None else {"text": text}
    response = as_user(client, "coordinator").post(reverse("portal:case-comment", args=[a1.pk]), data)
    assert response.status_code == 400
    assert "comment" in response.content.decode().lower()
    assert not CaseComment.objects.exists() and AuditEntry.objects.count() == entries


def test_a_comment_of_the_longest_length_is_accepted(users, client):
    a1 = case("A1")
    response = as_user(client, "expert1").post(reverse("portal:case-comment", args=[a1.pk]),
                                               {"text": "ж" * MAX_COMMENT_LENGTH})
    assert response.status_code == 302
    assert len(CaseComment.objects.get(case=a1).text) == MAX_COMMENT_LENGTH


def test_a_failed_audit_append_leaves_no_comment(users, monkeypatch):
    from workflow import audit

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "append_entry", broken)
    with pytest.raises(RuntimeError):
        comments.add_comment(case=case("A1"), author=user("coordinator"), text="lost?")
    assert not CaseComment.objects.exists()
