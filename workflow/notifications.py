"""Queue notifications in the outbox, exactly once per idempotency key and channel."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from .models import Notification, UserPreference


def language_of(user, default: str | None = None) -> str:
    """The language Kelisim writes to ``user`` in (kk, ru or en): their
    :class:`~workflow.models.UserPreference` when they chose one, else ``default``, else the
    documents' default language (``settings.KELISIM_DOCUMENT_LANGUAGE``)."""
    chosen = UserPreference.objects.filter(user=user).values_list("language", flat=True).first() if user else None
    return chosen or default or settings.KELISIM_DOCUMENT_LANGUAGE


def notify(*, recipient, kind: str, key: str, subject: str, chain: str = "", data: dict | None = None,
           channels: tuple[str, ...] = (Notification.Channel.IN_APP,), language: str = "ru") -> list[Notification]:
    """Queue ``kind`` for ``recipient`` on each channel under the idempotency ``key``.

    Returns the rows created now (empty when the same key was queued before). Joins the
    caller's transaction, so nothing is queued for a change that is rolled back.
    """
    created = []
    for channel in channels:
        try:
            with transaction.atomic():  # a savepoint: a duplicate key leaves the caller's transaction usable
                created.append(Notification.objects.create(
                    key=key, channel=channel, recipient=recipient, kind=kind, subject=subject[:300], chain=chain,
                    data=data or {}, language=language))
        except IntegrityError:
            if not Notification.objects.filter(key=key, channel=channel).exists():
                raise
    return created
