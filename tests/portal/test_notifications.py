"""The notifications page: own in-app messages, marking read, the auditors' view of the outbox."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from processes.rounds.actors import ensure_user
from workflow.models import Notification

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")


@pytest.fixture
def people(db):
    return {
        "expert": ensure_user("note-expert", "expert"),
        "other": ensure_user("note-other", "expert"),
        "auditor": ensure_user("note-auditor", "auditor"),
        "coordinator": ensure_user("note-coordinator", "coordinator"),
    }


def note(recipient, key, *, channel=Notification.Channel.IN_APP, created=None, **fields):
    row = Notification.objects.create(recipient=recipient, key=key, channel=channel, kind="deadline_reminder",
                                      subject=fields.pop("subject", f"Subject {key}"),
                                      chain=fields.pop("chain", "TC-2017/A1"), **fields)
    if created is not None:
        Notification.objects.filter(pk=row.pk).update(created_at=created)
    return row


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get(reverse("portal:notifications"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login") + "?next=")


def test_a_user_sees_only_its_own_in_app_notifications_newest_first_in_almaty_time(client, people):
    older = note(people["expert"], "n:1", created=dt.datetime(2017, 3, 18, 3, 0, tzinfo=dt.UTC))
    newer = note(people["expert"], "n:2", created=dt.datetime(2017, 3, 20, 3, 30, tzinfo=dt.UTC))
    note(people["expert"], "n:2", channel=Notification.Channel.EMAIL)  # the e-mail twin is not listed
    note(people["other"], "n:3", subject="Not yours")
    client.force_login(people["expert"])
    response = client.get(reverse("portal:notifications"))
    assert response.status_code == 200
    assert [n.pk for n in response.context["rows"]] == [newer.pk, older.pk]
    html = response.content.decode()
    assert "Not yours" not in html
    assert "20.03.2017 09:30" in html  # 03:30 UTC is 09:30 in Almaty (UTC+6 in 2017)
    assert html.count("Mark read") == 2 and reverse("portal:notifications") in html


def test_marking_own_notification_read(client, people):
    row = note(people["expert"], "n:1")
    client.force_login(people["expert"])
    response = client.post(reverse("portal:notification-read", args=[row.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("portal:notifications")
    row.refresh_from_db()
    first = row.read_at
    assert first is not None
    client.post(reverse("portal:notification-read", args=[row.pk]))  # again: the first time is kept
    row.refresh_from_db()
    assert row.read_at == first
    html = client.get(reverse("portal:notifications")).content.decode()
    assert "Mark read" not in html and ">read<" in html


@pytest.mark.parametrize("who", ["expert", "auditor", "coordinator"])
def test_another_users_notification_is_404_and_stays_unread(client, people, who):
    row = note(people["other"], "n:1")
    email = note(people[who], "n:2", channel=Notification.Channel.EMAIL)
    client.force_login(people[who])
    assert client.post(reverse("portal:notification-read", args=[row.pk])).status_code == 404
    assert client.post(reverse("portal:notification-read", args=[email.pk])).status_code == 404  # not in-app
    assert client.post(reverse("portal:notification-read", args=[999_999_999])).status_code == 404
    assert client.get(reverse("portal:notification-read", args=[row.pk])).status_code == 405
    row.refresh_from_db()
    assert row.read_at is None


def test_only_auditors_and_coordinators_see_every_notification(client, people):
    note(people["other"], "n:1")
    url = reverse("portal:notifications") + "?all=1"
    client.force_login(people["expert"])
    assert client.get(url).status_code == 403
    assert "All, every channel" not in client.get(reverse("portal:notifications")).content.decode()
    for who in ("auditor", "coordinator"):
        client.force_login(people[who])
        response = client.get(url)
        assert response.status_code == 200
        assert response.context["rows"][0].key == "n:1"  # the newest; the sample cycle's rows follow


def test_an_auditor_sees_whether_and_when_a_reminder_was_sent(client, people):
    sent_at = dt.datetime(2017, 3, 18, 3, 5, 7, tzinfo=dt.UTC)
    sent = note(people["expert"], "deadline:1:reminder:-2:1", channel=Notification.Channel.EMAIL,
                subject="Reminder: Score A1", status=Notification.Status.SENT, attempts=1, sent_at=sent_at)
    failed = note(people["other"], "deadline:2:escalation:1:1", channel=Notification.Channel.EMAIL,
                  subject="Overdue: Score A2", chain="TC-2017/A2", status=Notification.Status.FAILED, attempts=5,
                  last_error="ConnectionRefusedError: smtp down")
    pending = note(people["other"], "deadline:2:escalation:1:1", subject="Overdue: Score A2", chain="TC-2017/A2")
    client.force_login(people["auditor"])
    response = client.get(reverse("portal:notifications") + "?all=1")
    assert {n.pk for n in response.context["rows"][:3]} == {sent.pk, failed.pk, pending.pk}  # newest first
    html = response.content.decode()
    row = re.search(rf'<tr id="notification-{sent.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "Reminder: Score A1" in row and "note-expert" in row and "e-mail" in row and "sent" in row
    assert "18.03.2017 09:05:07" in row  # the sent time, in Almaty
    failed_row = re.search(rf'<tr id="notification-{failed.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "smtp down" in failed_row and ">5<" in failed_row
    only_sent = client.get(reverse("portal:notifications") + "?all=1&status=sent").context["rows"]
    assert only_sent[0].pk == sent.pk and {n.status for n in only_sent} == {"sent"}
    only_a2 = client.get(reverse("portal:notifications") + "?all=1&case=TC-2017/A2").context["rows"]
    assert {failed.pk, pending.pk} <= {n.pk for n in only_a2} and {n.chain for n in only_a2} == {"TC-2017/A2"}


def test_the_nav_links_to_the_notifications(client, people):
    client.force_login(people["expert"])
    html = client.get(reverse("portal:inbox")).content.decode()
    assert f'href="{reverse("portal:notifications")}"' in html
