"""The signatory's page (``portal:signatory``, ``approvals/``) and a document version's
preview (``portal:document-preview``, ``documents/versions/<pk>/preview/``).

The approvals page lists the pending decisions the user is asked to take: its own and those
of the signatories it stands in for today (delegation or out of office; the rule of
:func:`processes.portal.selectors._decisions_covered`), on open approvals. Each shows the
document's title, the exact version number and sha256 decided on, links to preview and
download that version, and approve / reject forms posting to ``portal:decision`` (a
rejection asks for the reason in its comment). A decision the user may not take yet (e.g.
an earlier signatory of a sequence has not approved) is listed with the reason.

The preview reads the version through :func:`documents.storage.read_verified` (sha256
checked) and shows a Word file's paragraphs and tables, in document order, as text: the
template escapes every character (nothing of the document is rendered as HTML). Other
types get a download link. 404 for a version the user may not see or whose file is
missing, 409 when the stored bytes no longer match their sha256.
"""

from __future__ import annotations

import io

from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from documents.models import DocumentVersion
from documents.storage import ChecksumMismatch, StorageError, read_verified
from workflow.approvals.models import Approval, Decision
from workflow.transitions import available_transitions

from .. import selectors
from .common import may_decide_as_signatory, problem

#: The most blocks (paragraphs or tables) a preview shows; longer documents are cut there.
MAX_BLOCKS = 3000


def awaiting_decisions(*, user) -> list[dict]:
    """The pending decisions on open approvals that ``user`` is asked to take (own or as a
    deputy), oldest approval first, each as ``{"decision", "version", "allowed", "reason",
    "deputy"}``; ``version`` is the exact :class:`DocumentVersion` approved (or None)."""
    decisions = list(Decision.objects.filter(selectors._decisions_covered(user), state=Decision.State.PENDING,
                                             approval__state=Approval.State.OPEN)
                     .select_related("approval", "approval__author", "signatory")
                     .order_by("approval__created_at", "approval_id", "position"))
    version_type = ContentType.objects.get_for_model(DocumentVersion)
    ids = {d.approval.subject_id for d in decisions if d.approval.subject_type_id == version_type.pk}
    versions = DocumentVersion.objects.select_related("document").in_bulk(ids) if ids else {}
    rows = []
    for decision in decisions:
        options = {o.name: o for o in available_transitions(decision, user)}
        approve = options.get("approve")
        rows.append({"decision": decision, "approval": decision.approval,
                     "version": versions.get(decision.approval.subject_id)
                     if decision.approval.subject_type_id == version_type.pk else None,
                     "allowed": bool(approve and approve.allowed),
                     "reason": "" if approve is None or approve.allowed else approve.reason,
                     "deputy": decision.signatory_id != user.pk})
    return rows


@require_safe
@login_required
def signatory(request):
    """Approvals awaiting the user's decision; 403 for users who are neither signatories nor
    standing in for one today."""
    if not may_decide_as_signatory(request.user):
        raise PermissionDenied
    return render(request, "portal/roles/signatory.html", {"rows": awaiting_decisions(user=request.user)})


def docx_blocks(content: bytes, *, limit: int = MAX_BLOCKS) -> tuple[list[dict], bool]:
    """The paragraphs and tables of a .docx file in document order, as plain text.

    Returns ``(blocks, cut)``: each block is ``{"kind": "heading", "level": 2..4, "text"}``,
    ``{"kind": "paragraph", "text"}`` or ``{"kind": "table", "rows": [[cell text]]}``; empty
    paragraphs are skipped; ``cut`` is True when more than ``limit`` blocks were left out.
    Raises ``ValueError`` when ``content`` is not a readable Word document.
    """
    import zipfile

    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(content))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ValueError(f"not a readable Word document ({exc})") from exc
    except Exception as exc:  # python-docx raises its own errors for a broken package
        raise ValueError(f"not a readable Word document ({exc.__class__.__name__})") from exc
    blocks: list[dict] = []
    for item in document.iter_inner_content():
        if len(blocks) >= limit:
            return blocks, True
        if isinstance(item, Table):
            rows = [[cell.text for cell in row.cells] for row in item.rows]
            blocks.append({"kind": "table", "rows": rows})
            continue
        text = item.text
        if not text.strip():
            continue
        style = (item.style.name if item.style is not None else "") or ""
        if style.startswith("Heading") or style == "Title":
            level = 2 if style == "Title" else min(4, 1 + int(style[-1])) if style[-1:].isdigit() else 3
            blocks.append({"kind": "heading", "level": level, "text": text})
        else:
            blocks.append({"kind": "paragraph", "text": text})
    return blocks, False


@require_safe
@login_required
def document_preview(request, pk: int):
    """The text of one document version as HTML (see the module docstring)."""
    version = selectors.visible_version(user=request.user, pk=pk)
    if version is None:
        raise Http404(_("No such document version."))
    blocks, cut, unreadable = [], False, ""
    if version.is_docx:
        try:
            blocks, cut = docx_blocks(read_verified(version))
        except ChecksumMismatch:
            return problem(request, 409, _("The document was changed"), _(
                "The stored file of %(document)s, version %(number)s, no longer matches its recorded sha256 "
                "checksum, so it is not shown. The incident was logged; please tell the administrator.") % {
                "document": version.document.title, "number": version.number})
        except StorageError:
            return problem(request, 404, _("The file is missing"), _(
                "The stored file of %(document)s, version %(number)s, cannot be found in the document storage. "
                "Please tell the administrator.") % {"document": version.document.title, "number": version.number})
        except ValueError as exc:
            unreadable = str(exc)
    return render(request, "portal/roles/document_preview.html", {
        "version": version, "document": version.document, "blocks": blocks, "cut": cut,
        "unreadable": unreadable, "previewable": version.is_docx, "max_blocks": MAX_BLOCKS,
        "case": selectors.visible_cases_by_ref(user=request.user, refs=[version.document.owner_ref]).get(
            version.document.owner_ref),
    })
