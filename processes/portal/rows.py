"""Rows of the portal's long tables, built in Python: the case page's documents with their
versions and its history timeline, and the auditor's search results.

The templates ``portal/_documents.html`` and ``portal/_timeline.html`` print these rows as
they are. Formatting in the template cost 0.4-0.5 ms of CPU per row (a ``timezone`` block, a
``date`` filter, URL reversing and four or five label filters each): about half of the case
page's CPU time for a case with 40 versions and 100 history entries, the most requested page
of the load test (docs/load.md). Here each row is a dict of ready strings; the labels, dates
and sizes are the same functions the filters call (:mod:`processes.portal.labels`,
:mod:`processes.reasons`, ``portal_tags.binary_size``), so what a page shows is unchanged
(tests/portal/test_case_page.py).
"""

from __future__ import annotations

import zoneinfo

from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.formats import date_format as localized_date_format

from workflow.permissions import role_label

from .labels import state_label, transition_label


def _zone(tz) -> zoneinfo.ZoneInfo:
    """``tz`` (an IANA name or a tzinfo) as a tzinfo; the active time zone when empty."""
    if not tz:
        return timezone.get_current_timezone()
    return zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else tz


def document_rows(documents, *, user, tz) -> list[dict]:
    """One row per version of each of ``documents`` (versions and their renditions prefetched,
    as :func:`processes.portal.selectors.case_documents` does), and one row for a document
    without versions:

    ``{"document", "first" (bool: the document's first row), "version" (None for a document
    without versions), "number", "signed", "sha256", "size" ("35,8 KiB"), "created"
    (SHORT_DATETIME_FORMAT of the active language, in ``tz``: an IANA name such as
    ``Asia/Almaty``, or the active zone), "download_url", "pdf" (the version's PDF rendition or
    None), "pdf_url" (its download when done), "pdf_request_url" (set when ``user`` may ask
    for a PDF of this .docx version and none is done or running)}``.
    """
    from processes.portal.pdf_views import may_request_pdf
    from processes.portal.templatetags.portal_tags import binary_size

    zone = _zone(tz)
    may_pdf = may_request_pdf(user)
    rows = []
    for document in documents:
        versions = list(document.versions.all())
        if not versions:
            rows.append({"document": document, "first": True, "version": None})
            continue
        for index, version in enumerate(versions):
            pdf = next(iter(version.renditions.all()), None)
            status = getattr(pdf, "status", None)
            rows.append({
                "document": document, "first": index == 0, "version": version,
                "number": version.number, "signed": version.signed, "sha256": version.sha256,
                "size": binary_size(version.size),
                "created": localized_date_format(timezone.localtime(version.created_at, zone),
                                                 "SHORT_DATETIME_FORMAT"),
                "download_url": reverse("portal:document-download", args=[version.pk]),
                "pdf": pdf,
                "pdf_url": reverse("portal:rendition-download", args=[pdf.pk]) if status == "done" else "",
                "pdf_request_url": reverse("portal:document-pdf", args=[version.pk])
                if may_pdf and version.is_docx and status not in ("done", "running") else "",
            })
    return rows


def timeline_rows(entries, *, tz) -> list[dict]:
    """One row per audit entry of ``entries`` (redacted as the reader may read them,
    :func:`processes.portal.redaction.redact_entries`):

    ``{"entry", "seq", "iso" (ISO 8601 with offset), "when" ("d.m.Y H:i:s" in ``tz``, an IANA
    name or the active zone), "who" (the role's name when the actor's name is withheld, else
    the username or "—"), "on_behalf_of", "transition", "transition_label", "change" (bool:
    the entry moved a state), "from_label", "to_label" ("" for none), "object_repr",
    "object_type", "said" (what the entry says in the active language)}``.
    """
    from processes.reasons import entry_comment

    zone = _zone(tz)
    rows = []
    for entry in entries:
        local = timezone.localtime(entry.created_at, zone)
        actor_role = getattr(entry, "actor_role", "")
        change = bool(entry.from_state or entry.to_state)
        rows.append({
            "entry": entry, "seq": entry.seq,
            "iso": date_format(timezone.localtime(entry.created_at), "c"),  # the active zone, as the template printed it
            "when": date_format(local, "d.m.Y H:i:s"),
            "who": role_label(actor_role) if actor_role else (entry.actor_username or "—"),
            "on_behalf_of": entry.on_behalf_of_username,
            "transition": entry.transition,
            "transition_label": transition_label(entry.transition) if entry.transition else "",
            "change": change,
            "from_label": state_label(entry.from_state, entry.object_type) if entry.from_state else "",
            "to_label": state_label(entry.to_state, entry.object_type) if entry.to_state else "",
            "object_repr": entry.object_repr, "object_type": entry.object_type,
            "said": entry_comment(entry),
        })
    return rows


def audit_rows(entries, *, tz) -> list[dict]:
    """One row per audit entry of the auditor's search (each with ``case``: the case the reader
    may open, or None; see ``roles/auditor.py``):

    ``{"entry", "pk", "chain", "seq", "when" ("d.m.Y H:i:s" in ``tz``), "case_url" (the case
    page at the entry's window and anchor, or ""), "actor", "on_behalf_of", "object_repr",
    "object_type", "transition", "transition_label", "change", "from_label", "to_label",
    "said" (what the entry says in the active language, at most 300 characters)}``.
    """
    from django.utils.text import Truncator

    from processes.reasons import entry_comment

    zone = _zone(tz)
    rows = []
    for entry in entries:
        case = getattr(entry, "case", None)
        rows.append({
            "entry": entry, "pk": entry.pk, "chain": entry.chain, "seq": entry.seq,
            "when": date_format(timezone.localtime(entry.created_at, zone), "d.m.Y H:i:s"),
            "case_url": f"{reverse('portal:case-detail', args=[case.pk])}?history_to={entry.seq + 50}#entry-{entry.seq}"
            if case is not None else "",
            "actor": entry.actor_username, "on_behalf_of": entry.on_behalf_of_username,
            "object_repr": entry.object_repr, "object_type": entry.object_type,
            "transition": entry.transition,
            "transition_label": transition_label(entry.transition) if entry.transition else "",
            "change": bool(entry.from_state or entry.to_state),
            "from_label": state_label(entry.from_state, entry.object_type) if entry.from_state else "",
            "to_label": state_label(entry.to_state, entry.object_type) if entry.to_state else "",
            "said": Truncator(entry_comment(entry)).chars(300),
        })
    return rows
