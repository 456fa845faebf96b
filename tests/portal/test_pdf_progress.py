"""The progress page of a PDF rendition (issue 6, item 6: long operations show progress and
never block a request): ``POST /documents/versions/<pk>/pdf/`` answers at once with a redirect
to ``GET /documents/renditions/<pk>/``, which shows queued / running / done / failed (with
the reason), reloads itself while the conversion is not finished, and links the PDF when done.
"""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from documents.models import DocumentVersion, Rendition
from processes.portal.pdf_views import REFRESH_SECONDS

from .roles_support import as_user, people  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def word_version() -> DocumentVersion:
    version = (DocumentVersion.objects.filter(document__owner_ref="TC-2017/A1", content_type=DOCX)
               .select_related("document").order_by("pk").first())
    assert version is not None
    return version


def status_page(client, rendition):
    return client.get(reverse("portal:rendition-status", args=[rendition.pk]))


def test_asking_answers_at_once_with_the_progress_page(people, client, django_capture_on_commit_callbacks):
    version = word_version()
    as_user(client, "coordinator")
    with django_capture_on_commit_callbacks(execute=False) as queued:  # no worker has started it
        response = client.post(reverse("portal:document-pdf", args=[version.pk]))
    rendition = Rendition.objects.get(source=version)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:rendition-status", args=[rendition.pk])
    assert len(queued) == 1 and rendition.status == Rendition.Status.PENDING  # queued, not converted
    page = status_page(client, rendition)
    assert page.status_code == 200 and page["Refresh"] == str(REFRESH_SECONDS)
    html = page.content.decode()
    assert 'data-status="pending"' in html and ">queued<" in html
    assert "waiting for a worker" in html and "rendition-download" not in html
    assert "<script" not in html  # the reload is the Refresh header: the CSP allows no inline script


def test_each_state_is_shown_and_only_unfinished_ones_reload(people, client):
    version = word_version()
    rendition = Rendition.objects.create(source=version, status=Rendition.Status.PENDING)
    as_user(client, "coordinator")
    download = reverse("portal:rendition-download", args=[rendition.pk])

    rendition.status, rendition.started_at = Rendition.Status.RUNNING, timezone.now()
    rendition.save()
    page = status_page(client, rendition)
    assert page["Refresh"] == str(REFRESH_SECONDS)
    assert 'data-status="running"' in page.content.decode() and "being converted" in page.content.decode()

    content = b"%PDF-1.4\n%progress\n%%EOF\n"
    key = default_storage.save(f"progress/{version.pk}.pdf", ContentFile(content))
    rendition.status, rendition.finished_at = Rendition.Status.DONE, timezone.now()
    rendition.storage_key, rendition.size, rendition.sha256 = key, len(content), hashlib.sha256(content).hexdigest()
    rendition.save()
    page = status_page(client, rendition)
    html = page.content.decode()
    assert "Refresh" not in page and 'data-status="done"' in html
    assert f'href="{download}"' in html and rendition.sha256 in html
    assert client.get(download).content == content

    rendition.status, rendition.error = Rendition.Status.FAILED, "LibreOffice exited with code 3: boom"
    rendition.save()
    page = status_page(client, rendition)
    html = page.content.decode()
    assert "Refresh" not in page and 'data-status="failed"' in html
    assert "could not be made: LibreOffice exited with code 3: boom." in html and "The Word file is unchanged" in html
    assert 'id="rendition-retry"' in html and f'href="{download}"' not in html


def test_the_failure_reason_is_shown_to_readers_without_a_retry_button(people, client):
    rendition = Rendition.objects.create(source=word_version(), status=Rendition.Status.FAILED,
                                         error="the document is password-protected")
    as_user(client, "applicant-a1")  # may read the case's documents, may not ask for a PDF
    html = status_page(client, rendition).content.decode()
    assert "the document is password-protected" in html and 'id="rendition-retry"' not in html


def test_the_page_is_in_the_readers_language(people, client):
    from django.conf import settings
    from django.utils import translation

    rendition = Rendition.objects.create(source=word_version(), status=Rendition.Status.PENDING)
    as_user(client, "coordinator")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "kk"
    html = status_page(client, rendition).content.decode()
    with translation.override("kk"):
        assert translation.gettext("queued") in html and translation.gettext("queued") != "queued"


@pytest.mark.parametrize("role", ["applicant", "expert"])
def test_a_rendition_of_a_version_the_user_may_not_see_is_404(people, client, role):
    from processes.rounds.actors import ensure_user

    rendition = Rendition.objects.create(source=word_version(), status=Rendition.Status.PENDING)
    client.force_login(ensure_user(f"pdf-outsider-{role}", role))  # no case of theirs, nothing assigned
    assert status_page(client, rendition).status_code == 404
    assert client.get(reverse("portal:rendition-status", args=[10**9])).status_code == 404
    assert client.post(reverse("portal:rendition-status", args=[rendition.pk])).status_code == 405


def test_anonymous_is_sent_to_the_login(client, db):
    response = client.get(reverse("portal:rendition-status", args=[1]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
