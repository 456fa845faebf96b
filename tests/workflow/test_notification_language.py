"""Reminders and escalations reach each person in their own language (kk, ru, en).

The language is the recipient's ``UserPreference``; without one, the case's language. The
subject line, the task title and the body are translated through ``locale/`` and the date
is formatted for the language. E-mail carries a Message-ID derived from the outbox key.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import translation

from processes.rounds.actors import ensure_user
from processes.selection.services import SCORING_TASK_TITLE
from workflow import calendar
from workflow.deadlines import compose_subject, deliver, message_id, open_deadline, sweep
from workflow.models import Notification, UserPreference

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")
NOW = dt.datetime(2017, 3, 18, 9, 0, tzinfo=ALMATY)  # the "-2" reminder of a 27 March due date


def _person(name: str, language: str | None):
    user = ensure_user(name, "expert")
    if language is not None:
        UserPreference.objects.create(user=user, language=language)
    return user


def _remind(user, *, case_language="ru"):
    due = calendar.due_at(dt.date(2017, 3, 15), 5)
    deadline = open_deadline(chain="TC-L/A1", label=SCORING_TASK_TITLE, due_at=due, responsible=user,
                             language=case_language)
    sweep(now=NOW)
    return Notification.objects.get(key__startswith=f"deadline:{deadline.pk}:", channel="email")


@pytest.mark.parametrize("preference, case_language, language, subject", [
    ("kk", "ru", "kk", "Еске салу: Өтінімді бағалау (TC-L/A1), мерзімі 27.03.2017"),
    ("en", "ru", "en", "Reminder: Score the application (TC-L/A1), due 27.03.2017"),
    (None, "ru", "ru", "Напоминание: Оценить заявку (TC-L/A1), срок 27.03.2017"),
    ("", "kk", "kk", "Еске салу: Өтінімді бағалау (TC-L/A1), мерзімі 27.03.2017"),
])
def test_the_subject_is_in_the_recipients_language(preference, case_language, language, subject):
    row = _remind(_person("reader", preference), case_language=case_language)
    assert (row.language, row.subject) == (language, subject)
    in_app = Notification.objects.get(key=row.key, channel="in_app")
    assert (in_app.language, in_app.subject) == (language, subject)


def test_the_email_body_is_in_the_recipients_language_with_a_stable_message_id(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    row = _remind(_person("kazakh", "kk"))
    other = _remind(_person("russian", None))
    assert deliver(now=NOW).sent == 2
    by_to = {m.to[0]: m for m in mail.outbox}
    kk, ru = by_to["kazakh@example.kz"], by_to["russian@example.kz"]
    assert kk.subject == row.subject and "Іс: TC-L/A1" in kk.body and "Kelisim жүйесі" in kk.body
    assert "Дело: TC-L/A1" in ru.body and "Kelisim" in ru.body
    assert kk.extra_headers["Message-ID"] == message_id(row) != message_id(other)
    row.refresh_from_db()
    assert message_id(row) == kk.extra_headers["Message-ID"]  # derived from the key: the same on a resend
    assert translation.get_language() == "en"  # delivery does not leak its language to the caller


def test_an_uncatalogued_label_is_kept_as_written():
    assert compose_subject("escalation", "Ad-hoc check «A&B»", "X/1", dt.date(2026, 1, 5), "ru") == (
        "Просрочено: Ad-hoc check «A&B» (X/1), срок был 05.01.2026")
