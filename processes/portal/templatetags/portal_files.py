"""Template helpers for the case page's attachments and dossier (see :mod:`processes.portal.files`)."""

from django import template

from processes.portal import files

register = template.Library()


@register.filter
def may_attach(user, case) -> bool:
    """``{% if request.user|may_attach:case %}``: the applicant of the case, or a coordinator."""
    return files.may_attach(user, case)


@register.filter
def may_download_dossier(user) -> bool:
    """``{% if request.user|may_download_dossier %}``: auditors and coordinators."""
    return files.may_download_dossier(user)


@register.simple_tag
def upload_limit() -> int:
    """The largest accepted upload in bytes (``KELISIM_UPLOAD_MAX_BYTES``)."""
    return files.upload_limit()


@register.filter
def attachments(documents) -> list:
    """The uploaded files among a case's ``documents`` (``kind == "attachment"``)."""
    return [d for d in documents if d.kind == files.uploads.ATTACHMENT_KIND]


@register.filter
def may_request_pdf(user) -> bool:
    """``{% if request.user|may_request_pdf %}``: coordinators and partner coordinators (the
    rule of ``portal:document-pdf``), so auditors are not offered a button they may not use."""
    from processes.portal.pdf_views import may_request_pdf as rule

    return rule(user)
