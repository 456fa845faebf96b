"""Comments on a case: ``POST /cases/<pk>/comments/`` (``portal:case-comment``, field ``text``).

Anyone who may see the case may comment (``selectors.visible_cases``: staff, its applicant,
assigned experts, signatories asked to decide; an applicant therefore only on its own case);
anybody else gets 404 — except auditors, who read everything and change nothing: 403
(:func:`may_comment`). Readers who are not staff see an expert author as "expert", not by name
(``redaction.comment_authors``). A comment is stored as a :class:`~processes.portal.models.CaseComment`
and recorded in the case's audit chain as a ``comment_added`` entry without a state change,
both in one transaction, so the history shows it and the hash chain covers it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from processes.rounds.models import Case
from workflow import audit

from . import selectors
from .models import MAX_COMMENT_LENGTH, CaseComment

#: The audit entry's ``transition`` for a comment (no state change: from/to are empty).
COMMENT_ADDED = "comment_added"


class CommentInvalid(ValueError):
    """The comment text is empty or longer than :data:`MAX_COMMENT_LENGTH`; ``str()`` says which."""


def clean_text(text: str | None) -> str:
    """``text`` without surrounding white space; raises :class:`CommentInvalid` when it is then
    empty or over :data:`MAX_COMMENT_LENGTH` characters (or holds a NUL character)."""
    text = (text or "").strip()
    if not text:
        raise CommentInvalid(_("Write a comment before sending it."))
    if len(text) > MAX_COMMENT_LENGTH:
        raise CommentInvalid(_("A comment has at most %(limit)s characters; this one has %(length)s.")
                             % {"limit": MAX_COMMENT_LENGTH, "length": len(text)})
    if "\x00" in text:
        raise CommentInvalid(_("The comment contains a character that cannot be stored (NUL)."))
    return text


def add_comment(*, case: Case, author, text: str) -> CaseComment:
    """Store ``author``'s comment on ``case`` and append ``comment_added`` to its audit chain.

    The caller checks that ``author`` may see the case. Raises :class:`CommentInvalid` for a bad
    text (nothing is written). The comment and its audit entry are written in one transaction.
    """
    text = clean_text(text)
    with transaction.atomic():
        comment = CaseComment.objects.create(case=case, author=author, text=text)
        audit.append_entry(chain=case.audit_chain, actor=author, object_type="portal.casecomment",
                           object_id=str(comment.pk), object_repr=f"{case.ref} comment {comment.pk}",
                           transition=COMMENT_ADDED, from_state="", to_state="", comment=text,
                           data={"case": case.ref, "comment_id": comment.pk})
    return comment


def case_comments(*, case: Case):
    """The comments of ``case``, oldest first, with their authors (one query)."""
    return CaseComment.objects.filter(case=case).select_related("author").order_by("created_at", "pk")


def may_comment(user) -> bool:
    """False for an auditor who holds no other staff role (an auditor changes nothing, README
    "Who may do what"); True for anybody else (who may see the case: checked by the caller)."""
    from workflow import permissions

    roles = permissions.user_roles(user)
    writers = {permissions.COORDINATOR, permissions.PARTNER_COORDINATOR, permissions.ADMINISTRATOR}
    return bool(getattr(user, "is_superuser", False)) or permissions.AUDITOR not in roles or bool(roles & writers)


@require_POST
@login_required
def case_comment(request, pk: int):
    """Add the posted ``text`` as a comment on case ``pk``; redirect to the case's comments.

    404 for a case the user may not see; 403 for an auditor (:func:`may_comment`); 400 with a
    message for an empty or too long text.
    """
    case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
    if not may_comment(request.user):
        raise PermissionDenied(_("An auditor reads everything and changes nothing: auditors do not comment."))
    try:
        add_comment(case=case, author=request.user, text=request.POST.get("text"))
    except CommentInvalid as exc:
        return render(request, "portal/problem.html", {"title": _("The comment was not saved"),
                                                       "message": str(exc)}, status=400)
    messages.success(request, _("Your comment on %(case)s is saved.") % {"case": case.ref})
    return redirect(case_url(case) + "#comments")


def case_url(case: Case) -> str:
    from django.urls import reverse

    return reverse("portal:case-detail", args=[case.pk])
