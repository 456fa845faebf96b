"""What a person who is not staff may read of a case's history and comments (breaker F6, F14).

Staff viewers (coordinators, partner coordinators, auditors, administrators:
``selectors.is_staff_viewer``) read every audit entry in full. Anybody else reads the chains of
the cases it sees (``selectors.visible_cases``: an applicant its own, an expert those it scores,
a signatory or deputy those it decides on), with two things withheld so that scoring stays
blind and experts stay anonymous to applicants and to each other:

* **another expert's scoring**: an entry about a score sheet that is not the reader's own
  (``selection.scoresheet``: ``scores_saved``, ``submit`` with the scores, ``declare_conflict``
  with the note) or about a score-sheet document that is not the reader's own
  (``documents.documentversion`` / ``documents.rendition`` of kind ``score_sheet``) keeps its
  time, transition and states, but its ``data``, ``comment`` and ``object_repr`` are emptied
  and its ``hash`` withheld (``redacted``);
* **an expert's name**: an entry whose actor holds the expert role (and no staff role), other
  than the reader, shows the role instead of the name (``actor_username`` and
  ``on_behalf_of_username`` empty, ``actor_role == "expert"``); the same for the author of a
  comment (:func:`comment_authors`).

Non-staff readers never get ``prev_hash`` (it is the previous entry's hash, which may be a
withheld one); checking the chain is the auditors' work (``verify_audit``, the dossier). The
objects are changed in memory only and never saved. Rules documented in docs/security.md.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from workflow import permissions

from . import selectors

#: ``object_type`` of the audit entries about a score sheet.
SCORE_SHEET = "selection.scoresheet"
#: ``object_type`` of the audit entries about a document version and about a PDF rendition.
DOCUMENT_VERSION, RENDITION = "documents.documentversion", "documents.rendition"
#: The document kind of an expert's score sheet (its ``key`` is the expert's username).
SCORE_SHEET_KIND = "score_sheet"


def hidden_experts(user, actor_ids) -> set[int]:
    """The ids among ``actor_ids`` whose names ``user`` may not read: holders of the expert role
    without a staff role, other than ``user`` (none for staff viewers). One query."""
    ids = {pk for pk in actor_ids if pk is not None and pk != user.pk}
    if not ids or selectors.is_staff_viewer(user=user):
        return set()
    users = (get_user_model().objects.filter(pk__in=ids, groups__name=permissions.EXPERT, is_superuser=False)
             .exclude(groups__name__in=selectors.STAFF_ROLES))
    return set(users.values_list("pk", flat=True))


def _ids(entries, object_type) -> set[int]:
    return {int(e.object_id) for e in entries if e.object_type == object_type and str(e.object_id).isdigit()}


def _others_scoring(entries, user) -> set[int]:
    """The pks of ``entries`` about another expert's score sheet or score-sheet document."""
    from documents.models import DocumentVersion, Rendition
    from processes.selection.models import ScoreSheet

    sheets = dict(ScoreSheet.objects.filter(pk__in=_ids(entries, SCORE_SHEET)).values_list("pk", "expert_id"))
    versions = {pk: (kind, key) for pk, kind, key in DocumentVersion.objects.filter(
        pk__in=_ids(entries, DOCUMENT_VERSION)).values_list("pk", "document__kind", "document__key")}
    renditions = {pk: (kind, key) for pk, kind, key in Rendition.objects.filter(
        pk__in=_ids(entries, RENDITION)).values_list("pk", "source__document__kind", "source__document__key")}
    username = user.get_username()
    hidden = set()
    for entry in entries:
        object_id = int(entry.object_id) if str(entry.object_id).isdigit() else None
        if entry.object_type == SCORE_SHEET:
            if sheets.get(object_id) != user.pk:
                hidden.add(entry.pk)
        elif entry.object_type in (DOCUMENT_VERSION, RENDITION):
            found = (versions if entry.object_type == DOCUMENT_VERSION else renditions).get(object_id)
            if found is not None and found[0] == SCORE_SHEET_KIND and found[1] != username:
                hidden.add(entry.pk)
    return hidden


def redact_entries(entries, *, user):
    """``entries`` (audit entries of chains ``user`` may read) as ``user`` may read them, changed
    in place and returned (see the module docstring). Each gets ``redacted`` (bool) and
    ``actor_role`` (``"expert"`` when the name is withheld, else ``""``). A constant number
    of queries (at most four) for non-staff readers, none for staff."""
    entries = list(entries)
    for entry in entries:
        entry.redacted, entry.actor_role = False, ""
    if not entries or selectors.is_staff_viewer(user=user):
        return entries
    hidden_actors = hidden_experts(user, {e.actor_id for e in entries})
    others_scoring = _others_scoring(entries, user)
    for entry in entries:
        entry.prev_hash = ""
        if entry.actor_id in hidden_actors:
            entry.actor_username, entry.on_behalf_of_username = "", ""
            entry.actor_role = permissions.EXPERT
        if entry.pk in others_scoring:
            entry.redacted = True
            entry.data, entry.comment, entry.object_repr, entry.hash = {}, "", "", ""
    return entries


def comment_authors(comments, *, user):
    """``comments`` (a case's) with ``author_label`` set: the author's full name or username, or
    the role's name ("expert", translated) when ``user`` may not read an expert's name; changed
    in place and returned as a list."""
    comments = list(comments)
    hidden = hidden_experts(user, {c.author_id for c in comments})
    for comment in comments:
        if comment.author is None:
            comment.author_label = "—"
        elif comment.author_id in hidden:
            comment.author_label = permissions.role_label(permissions.EXPERT)
        else:
            comment.author_label = comment.author.get_full_name() or comment.author.get_username()
    return comments
