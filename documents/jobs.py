"""Celery tasks of the documents app: PDF renditions (docs/pdf.md).

``acks_late``: a task whose worker dies is redelivered; :func:`documents.pdf.run_rendition`
is idempotent (a done rendition is not redone, a running one is left to its run), so a
redelivery never makes a second PDF. The time limits come from ``KELISIM_PDF_TIMEOUT``
(read when this module is imported): LibreOffice itself is stopped after that many seconds;
the soft limit (+30 s) lets the task record the failure; the hard limit (+60 s) kills it.
"""

from celery import shared_task

from .pdf import hard_time_limit, soft_time_limit


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=soft_time_limit(), time_limit=hard_time_limit())
def convert_to_pdf(rendition_id: int) -> str:
    """Make the PDF of rendition ``rendition_id``; return its status (``done``/``failed``, or
    ``running`` when another run has it)."""
    from .pdf import run_rendition

    return run_rendition(rendition_id).status
