"""The authorization matrix: every URL of the project, every role, own vs other objects.

Standing rule: every URL and endpoint joins this table. :func:`test_every_url_is_in_the_matrix`
walks the URL resolver and fails for any named URL (and any unnamed non-admin URL) that the
table below neither lists nor exempts, so a new view cannot ship without its row.

The table is data: ``MATRIX[url name]`` is an :class:`Endpoint` whose ``expect[method]`` is a
function ``(role, ownership) -> expected``; ``expected`` is an HTTP status, :data:`LOGIN`
(302 to the portal login with ``?next=``) or :data:`ADMIN_LOGIN` (302 to the admin login).
Each (URL name, method, role, ownership) is one parametrized test id. A POST that may change
state records a snapshot before and after: a refusal must leave the object and the audit
trail untouched, an accepted request must have changed it. Every cell runs in its own
transaction, rolled back at its end, so cells do not affect each other.

Objects, per role (see :func:`case_number`): an applicant's own case is TC-2017/A1, other A2;
an expert's own case is one whose application it scored (A1), other one it never scored (A9,
refused before scoring); a signatory's own case has its decision (A1), other has none (A2);
staff see every case (own A1, other A4, both in implementation). Documents follow their case;
decisions: "own" is signatory1's pending decision on A1, "other" signatory2's on A2; tasks are
decision tasks: "own" is assigned to the requesting user (on signatory1's decision), "other" is
signatory2's.

Known product bugs would be marked ``xfail(strict=True)`` with the reason (see
:data:`KNOWN_BUGS`); when a bug is fixed the cell starts passing and the strict xfail fails.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import shutil
from collections.abc import Callable
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import transaction
from django.test import RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from documents.models import Document, DocumentVersion, Rendition
from processes.rounds.actors import ensure_user
from processes.rounds.models import Case
from workflow import tasks as human_tasks
from workflow.approvals.models import Decision
from workflow.approvals.services import Signatory, request_approval
from workflow.models import AuditChain, AuditEntry, UserPreference

pytestmark = pytest.mark.django_db

LOGIN = "302 to login"
ADMIN_LOGIN = "302 to admin login"

#: The roles of the portal rows (demo users of ``create_demo_users``; "admin" is the superuser).
ROLES = ("anonymous", "coordinator", "partner", "expert1", "signatory1", "auditor", "applicant-a1", "admin")
#: The admin rows add a staff user without any model permission or role.
ADMIN_ROLES = ROLES + ("staff-noperm",)
#: Roles that see every case (selectors.STAFF_ROLES; the superuser holds every role).
STAFF_VIEWERS = {"coordinator", "partner", "auditor", "admin"}
#: Roles the ``suspend`` transition permits (coordinators, partner coordinators; the superuser).
MOVERS = {"coordinator", "partner", "admin"}
#: The role (queue) of each user's own task.
ROLE_OF = {"coordinator": "coordinator", "partner": "partner_coordinator", "expert1": "expert",
           "signatory1": "signatory", "auditor": "auditor", "applicant-a1": "applicant", "admin": "administrator"}
OWNED = ("own", "other")
NONE = ("-",)


# -- data ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The demo users plus ``staff-noperm`` and ``staff-coordinator``, rolled back at the end."""
    fast_hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=fast_hashers), transaction.atomic():
        call_command("create_demo_users", stdout=io.StringIO())
        noperm = get_user_model().objects.create_user("staff-noperm", password="x", is_staff=True)
        assert not noperm.user_permissions.exists() and not noperm.groups.exists()
        UserPreference.objects.create(user=noperm, language="kk")  # an object for the admin cells
        staff_coordinator = ensure_user("staff-coordinator", "coordinator")
        staff_coordinator.is_staff = True
        staff_coordinator.save(update_fields=["is_staff"])
        staff_coordinator.user_permissions.add(  # enough to reach the changelists and their actions
            *Permission.objects.filter(content_type__app_label="approvals",
                                       codename__in=["change_decision", "view_decision"]),
            *Permission.objects.filter(content_type__app_label="planning", codename__in=["change_plan", "view_plan"]))
        _one_object_per_admin_model()
        yield
        transaction.set_rollback(True)


def _one_object_per_admin_model():
    """Rows for the registered models the cycle leaves empty, so that every admin change,
    delete and history view is checked on a real object."""
    from django_celery_beat.models import (ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask,
                                           SolarSchedule)
    from workflow.approvals.models import Delegation

    if not Delegation.objects.exists():  # long expired: lets nobody stand in for anybody today
        Delegation.objects.create(owner=user("signatory2"), deputy=user("expert2"), starts_on=dt.date(2017, 1, 1),
                                  ends_on=dt.date(2017, 1, 2), reason="matrix")
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    CrontabSchedule.objects.create(minute="0", hour="3")
    SolarSchedule.objects.create(event="sunrise", latitude=43.25, longitude=76.95)
    ClockedSchedule.objects.create(clocked_time=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    PeriodicTask.objects.create(name="matrix", task="kelisim.noop", interval=interval, enabled=False)
    from rest_framework.authtoken.models import Token

    Token.objects.get_or_create(user=user("auditor"))  # an API token (admin: Auth Token)
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    AccessAttempt.objects.create(username="matrix", ip_address="127.0.0.9", user_agent="matrix", failures_since_start=1)
    AccessLog.objects.create(username="matrix", ip_address="127.0.0.9", user_agent="matrix")
    AccessFailureLog.objects.create(username="matrix", ip_address="127.0.0.9", user_agent="matrix")
    if not Rendition.objects.exists():
        round_paper = DocumentVersion.objects.filter(document__owner_ref="TC-2017").order_by("pk").first()
        Rendition.objects.create(source=round_paper, status=Rendition.Status.FAILED, error="matrix")


def user(username):
    return get_user_model().objects.get(username=username)


def case(number: str) -> Case:
    return Case.objects.get(ref=f"TC-2017/{number}")


def case_number(role: str, ownership: str) -> str:
    """The case a cell is about: see the module docstring."""
    own, other = {"applicant-a1": ("A1", "A2"), "expert1": ("A1", "A9"),
                  "signatory1": ("A1", "A2")}.get(role, ("A1", "A4"))
    return own if ownership == "own" else other


def sees_case(role: str, ownership: str) -> bool:
    return role in STAFF_VIEWERS or ownership == "own"


def version_of(number: str) -> DocumentVersion:
    version = (DocumentVersion.objects.filter(document__owner_ref=f"TC-2017/{number}")
               .select_related("document").order_by("pk").first())
    assert version is not None, f"TC-2017/{number} has no document"
    return version


class Ctx:
    """The objects of one cell, created on first use inside the cell's transaction."""

    def __init__(self, role: str):
        self.role = role
        self.user = None if role == "anonymous" else user(role)

    @functools.cached_property
    def decisions(self) -> dict[str, Decision]:
        """Pending decisions: signatory1's on A1 ("own"), signatory2's on A2 ("other")."""
        coordinator, sig1, sig2 = user("coordinator"), user("signatory1"), user("signatory2")
        made = {}
        for ownership, number, signatories in (("own", "A1", [sig1, sig2]), ("other", "A2", [sig2])):
            version = version_of(number)
            approval = request_approval(
                subject=version, sha256=version.sha256, version=version.number, key=f"matrix:{number}",
                chain=f"TC-2017/{number}", title=f"Matrix {number}", author=coordinator,
                signatories=[Signatory(s) for s in signatories], actor=coordinator)
            made[ownership] = approval.decisions.select_related("approval").get(signatory=signatories[0])
        return made

    @functools.cached_property
    def tasks(self) -> dict[str, Task]:
        """Open decision tasks (``approve``, or ``reject``): the user's own, assigned to them, on
        signatory1's decision of A1, and signatory2's on its decision of A2 ("other").

        ``open_task`` is idempotent, so the tasks ``request_approval`` may already have opened
        for the signatories are reused."""
        made = {"other": human_tasks.open_task(self.decisions["other"], "approve", outcomes=("reject",),
                                               title="Someone else's decision", role="signatory",
                                               assignee=user("signatory2"))}
        if self.user is not None:
            made["own"] = human_tasks.open_task(self.decisions["own"], "approve", outcomes=("reject",),
                                                title="My task", role=ROLE_OF[self.role], assignee=self.user)
        for task in made.values():
            assert task.status == STATUS.ASSIGNED
        return made

    def task(self, ownership: str) -> Task:
        return self.tasks["other" if self.user is None else ownership]


#: Roles that may list every notification (``?all=1``): selectors.NOTIFICATION_OVERSEERS, the superuser.
NOTIFICATION_OVERSEERS = {"coordinator", "auditor", "admin"}


def notification_of(ctx: Ctx, own: str):
    """An unread in-app notification: the user's own, or signatory2's ("other"; also for anonymous)."""
    from workflow.models import Notification

    owner = ctx.user if own == "own" and ctx.user is not None else user("signatory2")
    row, _ = Notification.objects.get_or_create(
        key=f"matrix:{owner.username}", channel=Notification.Channel.IN_APP,
        defaults={"recipient": owner, "kind": "matrix", "subject": "Matrix", "chain": "TC-2017/A1"})
    return row


def notification_snapshot(ctx: Ctx, own: str):
    from workflow.models import Notification

    return Notification.objects.filter(pk=notification_of(ctx, own).pk).values_list("read_at", flat=True).get()


def saved_language(ctx: Ctx) -> str | None:
    """The user's saved interface language (``None`` for anonymous or none saved)."""
    if ctx.user is None:
        return None
    return UserPreference.objects.filter(user=ctx.user).values_list("language", flat=True).first()


def other_language(ctx: Ctx) -> str:
    """A language other than the one the user saved, so that a switch is a change."""
    return "ru" if saved_language(ctx) == "kk" else "kk"


def login(client, role: str):
    if role != "anonymous":
        client.force_login(user(role))
    return client


# -- the table -------------------------------------------------------------------------------------

Expected = int | str


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One URL name's row group: expected answer per method, how to build the request, and
    (for POSTs that change state) a snapshot of what must not change on a refusal."""

    expect: dict[str, Callable[[str, str], Expected]]
    build: Callable[[Ctx, str], tuple[str, dict]]
    ownerships: tuple[str, ...] = NONE
    roles: tuple[str, ...] = ROLES
    snapshot: Callable[[Ctx, str], object] | None = None
    changed: Callable[[object, object], bool] | None = None  # (before, after) -> the POST took effect
    accepted: frozenset[int] = frozenset({302})  # the answers of a POST that took effect
    json: bool = False  # POST the data as a JSON body (nested values), not as a form


def page(allowed: Callable[[str, str], int] = lambda role, own: 200) -> Callable[[str, str], Expected]:
    """A login-protected page: anonymous users go to the login page."""
    return lambda role, own: LOGIN if role == "anonymous" else allowed(role, own)


def method_not_allowed(role, own) -> int:
    return 405


def case_snapshot(ctx: Ctx, own: str):
    c = case(case_number(ctx.role, own))
    return c.state, AuditEntry.objects.filter(chain=c.ref).count()


def decision_snapshot(ctx: Ctx, own: str):
    d = Decision.objects.get(pk=ctx.decisions[own].pk)
    return d.state, d.decided_by_id, AuditEntry.objects.filter(chain=d.approval.chain).count()


def task_snapshot(ctx: Ctx, own: str):
    task = Task.objects.select_related("process").get(pk=ctx.task(own).pk)
    obj = task.process.artifact
    return task.status, task.owner_id, obj.state, AuditEntry.objects.filter(chain=obj.audit_chain).count()


def transition_expected(role, own) -> Expected:
    if role == "anonymous":
        return LOGIN
    if not sees_case(role, own):
        return 404
    return 302 if role in MOVERS else 403


def decision_expected(role, own) -> Expected:
    if role == "anonymous":
        return LOGIN
    sees = own == "own" or role in STAFF_VIEWERS or role == "expert1"  # expert1 scored A2 as well
    if not sees:
        return 404
    return 302 if (role, own) == ("signatory1", "own") else 403


def task_expected(action: str):
    def expected(role, own) -> Expected:
        if role == "anonymous":
            return LOGIN
        if own == "own":  # assigned to the user: claiming is a no-op, unassigning returns it to its queue
            if action == "complete":  # holding a task does not grant its transition: only the signatory decides
                return 302 if role == "signatory1" else 403
            return 302
        # signatory2's task: coordinators (managers) and the superuser see every open task
        if role == "coordinator":
            return {"claim": 403, "unassign": 302, "complete": 409}[action]  # claiming needs the role signatory
        if role == "admin":
            return {"claim": 409, "unassign": 302, "complete": 409}[action]  # held by signatory2
        return 404
    return expected


def task_changed(action: str):
    def changed(before, after) -> bool:
        status, owner, state, audits = after
        if action == "claim":
            return after == before  # a no-op on a task one holds (or a manager's success)
        if action == "unassign":
            return (status, owner) == (STATUS.NEW, None) and state == before[2]
        return status == STATUS.DONE and state == "approved" and audits > before[3]
    return changed


def moved_to_suspended(before, after) -> bool:
    # The case's own entry, plus one for its running implementation, which is suspended with it.
    return after[0] == "suspended" and after[1] == before[1] + 2


def decided(before, after) -> bool:
    return after[0] == "approved" and after[2] > before[2]


#: Roles that may attach files to any case they see (coordinators; the superuser holds every role).
ATTACHERS = {"coordinator", "admin"}
#: Roles that may download a case dossier (auditors, coordinators; the superuser).
DOSSIER_READERS = {"coordinator", "auditor", "admin"}


def attachment_expected(role, own) -> Expected:
    if role == "anonymous":
        return LOGIN
    if not sees_case(role, own):
        return 404
    return 302 if role in ATTACHERS or (role, own) == ("applicant-a1", "own") else 403


def attachment_request(ctx: Ctx, own: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    pdf = SimpleUploadedFile("matrix.pdf", b"%PDF-1.4\n%matrix\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    return reverse("portal:case-attachment-upload", args=[case(case_number(ctx.role, own)).pk]), {"file": pdf}


def attachment_snapshot(ctx: Ctx, own: str):
    c = case(case_number(ctx.role, own))
    return (Document.objects.filter(owner_ref=c.ref, kind="attachment").count(),
            DocumentVersion.objects.filter(document__owner_ref=c.ref).count(),
            AuditEntry.objects.filter(chain=c.ref).count())


def attached(before, after) -> bool:
    return after == (before[0] + 1, before[1] + 1, before[2] + 1)


def dossier_jobs(ctx: Ctx, own: str):
    """Jobs and audit entries: a dossier job is one more job and no entry (the job runs after commit)."""
    from processes.portal.models import Job

    return Job.objects.count(), AuditEntry.objects.count()


#: Roles that may ask for a PDF of a document version they see (coordinators; the superuser).
PDF_REQUESTERS = {"coordinator", "partner", "admin"}


def pdf_request_expected(role, own) -> Expected:
    if role == "anonymous":
        return LOGIN
    if not sees_case(role, own):
        return 404
    return 302 if role in PDF_REQUESTERS else 403


def pdf_snapshot(ctx: Ctx, own: str):
    version = version_of(case_number(ctx.role, own))
    return (list(Rendition.objects.filter(source=version).values_list("status", flat=True)),
            AuditEntry.objects.filter(chain=version.document.owner_ref).count())


def pdf_requested(before, after) -> bool:
    return before[0] == [] and after[0] == ["pending"]  # converted after commit: the cell never commits


def done_rendition(number: str) -> Rendition:
    """A PDF rendition of the case's first version, stored like a real one."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    version = version_of(number)
    content = b"%PDF-1.4\n%matrix\n%%EOF\n"
    key = default_storage.save(f"matrix/{version.pk}.pdf", ContentFile(content))
    rendition, _ = Rendition.objects.update_or_create(
        source=version, format=Rendition.Format.PDF,
        defaults={"status": Rendition.Status.DONE, "storage_key": key, "size": len(content),
                  "sha256": hashlib.sha256(content).hexdigest()})
    return rendition


MATRIX: dict[str, Endpoint] = {
    # -- authentication and language -----------------------------------------------------------
    "login": Endpoint(
        expect={"GET": lambda role, own: 200, "POST": lambda role, own: 200},  # wrong password: form again
        build=lambda ctx, own: (reverse("login"), {"username": "coordinator", "password": "wrong"})),
    "logout": Endpoint(
        expect={"GET": method_not_allowed, "POST": lambda role, own: 302},
        build=lambda ctx, own: (reverse("logout"), {})),
    "set_language": Endpoint(
        expect={"GET": lambda role, own: 302, "POST": lambda role, own: 302},
        build=lambda ctx, own: (reverse("set_language"), {"language": "en", "next": "/"})),
    # -- operations (operations/views.py, docs/operations.md) ----------------------------------------
    # /health/ and /ready/ are PUBLIC for every role, anonymous included: load balancers and
    # container engines probe them without credentials, and they show no data (statuses and
    # latencies only). /metrics is TOKEN-PROTECTED: with KELISIM_METRICS_TOKEN set only a bearer of
    # that token reads it (401 for everybody else, logged in or not); without a token only a
    # loopback client not behind a proxy (403 otherwise). The test client is 127.0.0.1 and no token
    # is set, hence 200 for every role; the refusals are tests/deploy/test_operations.py's. A login
    # grants nothing more on any of the three. GET only (405 for POST).
    "health": Endpoint(expect={"GET": lambda role, own: 200, "POST": method_not_allowed},
                       build=lambda ctx, own: (reverse("health"), {})),
    "ready": Endpoint(expect={"GET": lambda role, own: 200, "POST": method_not_allowed},
                      build=lambda ctx, own: (reverse("ready"), {})),
    "metrics": Endpoint(expect={"GET": lambda role, own: 200, "POST": method_not_allowed},
                        build=lambda ctx, own: (reverse("metrics"), {})),
    "portal:set-language": Endpoint(  # the switcher: also saves a logged-in user's preference
        expect={"GET": method_not_allowed, "POST": lambda role, own: 302},
        build=lambda ctx, own: (reverse("portal:set-language"), {"language": other_language(ctx), "next": "/"}),
        snapshot=lambda ctx, own: saved_language(ctx),
        changed=lambda before, after: after != before),
    # -- portal pages --------------------------------------------------------------------------
    "portal:case-list": Endpoint(
        expect={"GET": page(), "POST": method_not_allowed},
        build=lambda ctx, own: (reverse("portal:case-list"), {})),
    "portal:case-detail": Endpoint(
        expect={"GET": page(lambda role, own: 200 if sees_case(role, own) else 404), "POST": method_not_allowed},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:case-detail", args=[case(case_number(ctx.role, own)).pk]), {})),
    "portal:document-download": Endpoint(
        expect={"GET": page(lambda role, own: 200 if sees_case(role, own) else 404), "POST": method_not_allowed},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:document-download",
                                        args=[version_of(case_number(ctx.role, own)).pk]), {})),
    # a PDF follows its source version: whoever may download the .docx may download the PDF
    "portal:rendition-download": Endpoint(
        expect={"GET": page(lambda role, own: 200 if sees_case(role, own) else 404), "POST": method_not_allowed},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:rendition-download",
                                        args=[done_rendition(case_number(ctx.role, own)).pk]), {})),
    # the progress page of a PDF: whoever may see its source version (a read, never a wait)
    "portal:rendition-status": Endpoint(
        expect={"GET": page(lambda role, own: 200 if sees_case(role, own) else 404), "POST": method_not_allowed},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:rendition-status",
                                        args=[done_rendition(case_number(ctx.role, own)).pk]), {})),
    "portal:round-detail": Endpoint(
        expect={"GET": page(lambda role, own: 200 if role in STAFF_VIEWERS else 403), "POST": method_not_allowed},
        build=lambda ctx, own: (reverse("portal:round-detail", args=["TC-2017"]), {})),
    "portal:inbox": Endpoint(
        expect={"GET": page(), "POST": method_not_allowed},
        build=lambda ctx, own: (reverse("portal:inbox"), {})),
    # own: the user's in-app notifications; other: every notification (?all=1, overseers only)
    "portal:notifications": Endpoint(
        expect={"GET": page(lambda role, own: 200 if own == "own" or role in NOTIFICATION_OVERSEERS else 403),
                "POST": method_not_allowed},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:notifications") + ("" if own == "own" else "?all=1"), {})),
    # -- portal POST endpoints -----------------------------------------------------------------
    # own notifications only, whatever the role: another user's is 404, even for an auditor
    "portal:notification-read": Endpoint(
        expect={"GET": method_not_allowed,
                "POST": page(lambda role, own: 302 if own == "own" else 404)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:notification-read", args=[notification_of(ctx, own).pk]), {}),
        snapshot=notification_snapshot, changed=lambda before, after: before is None and after is not None),
    "portal:case-transition": Endpoint(
        expect={"GET": method_not_allowed, "POST": transition_expected},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:case-transition",
                                        args=[case(case_number(ctx.role, own)).pk, "suspend"]), {"comment": "m"}),
        snapshot=case_snapshot, changed=moved_to_suspended),
    # a PDF attached to the case: its applicant (own case) and coordinators; staff who only read get 403
    "portal:case-attachment-upload": Endpoint(
        expect={"GET": method_not_allowed, "POST": attachment_expected},
        ownerships=OWNED, build=attachment_request, snapshot=attachment_snapshot, changed=attached),
    # the case dossier (ZIP): auditors and coordinators only, whichever case; anybody else 403
    # POST: build it as a background job (portal:job-status); the job is queued after commit
    "portal:case-dossier": Endpoint(
        expect={"GET": page(lambda role, own: 200 if role in DOSSIER_READERS else 403),
                "POST": page(lambda role, own: 302 if role in DOSSIER_READERS else 403)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:case-dossier", args=[case(case_number(ctx.role, own)).pk]), {}),
        snapshot=dossier_jobs, changed=lambda before, after: after == (before[0] + 1, before[1])),
    # a PDF of a document version: coordinators (operator, partner) of a case they see
    "portal:document-pdf": Endpoint(
        expect={"GET": method_not_allowed, "POST": pdf_request_expected},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:document-pdf",
                                        args=[version_of(case_number(ctx.role, own)).pk]), {}),
        snapshot=pdf_snapshot, changed=pdf_requested),
    "portal:case-bulk": Endpoint(
        expect={"GET": method_not_allowed, "POST": transition_expected},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:case-bulk"),
                                {"transition": "suspend", "cases": [case(case_number(ctx.role, own)).pk]}),
        snapshot=case_snapshot, changed=moved_to_suspended),
    "portal:decision": Endpoint(
        expect={"GET": method_not_allowed, "POST": decision_expected},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:decision", args=[ctx.decisions[own].pk, "approve"]), {}),
        snapshot=decision_snapshot, changed=decided),
    **{f"portal:task-{action}": Endpoint(
        expect={"GET": method_not_allowed, "POST": task_expected(action)},
        ownerships=OWNED,
        build=(lambda action: lambda ctx, own: (reverse(f"portal:task-{action}", args=[ctx.task(own).pk]),
                                                {"transition": "approve"}))(action),
        snapshot=task_snapshot, changed=task_changed(action))
       for action in ("claim", "unassign", "complete")},
}


# -- the role pages (processes/portal/roles) -------------------------------------------------------

def _cached(ctx: Ctx, key: str, make):
    store = ctx.__dict__.setdefault("_role_pages", {})
    if key not in store:
        store[key] = make()
    return store[key]


def open_round(ctx: Ctx):
    """A round open for applications (MATRIX-OPEN), opened by the coordinator."""
    def make():
        from processes.rounds.models import Round
        from workflow.transitions import perform

        rnd = Round.objects.create(code="MATRIX-OPEN", title_en="Matrix round", title_ru="Матрица", max_selected=1,
                                   pass_mark=60, language="ru")
        return perform(rnd, "open_applications", actor=user("coordinator"))
    return _cached(ctx, "round", make)


def draft_case(ctx: Ctx, own: str) -> Case:
    """A draft application in the open round: applicant-a1's ("own") or another applicant's ("other")."""
    def make():
        from processes.submission.services import file_new_application

        rnd = open_round(ctx)
        filers = (("own", user("applicant-a1")), ("other", ensure_user("applicant-other", "applicant")))
        return {o: file_new_application(round=rnd, applicant=u, values={"name_en": f"Matrix {o}"}).case
                for o, u in filers}
    return _cached(ctx, "drafts", make)[own]


def sheet_of(ctx: Ctx, own: str):
    """A draft score sheet on A9's application: the user's own, or expert2's ("other"; also for anonymous)."""
    def make():
        from processes.selection.models import ScoreSheet

        application = case("A9").application
        sheets = {"other": ScoreSheet.objects.create(application=application, expert=user("expert2"))}
        if ctx.user is not None:
            sheets["own"] = ScoreSheet.objects.create(application=application, expert=ctx.user)
        return sheets
    return _cached(ctx, "sheets", make)["other" if ctx.user is None else own]


#: The coordinator's page: coordinators (operator, partner) and the superuser.
WORKERS = {"coordinator", "partner", "admin"}
#: The expert's pages, the signatory's page, the applicant's filing page, the auditor's pages
#: (the superuser holds every role).
SCORERS = {"expert1", "admin"}
SIGNERS = {"signatory1", "admin"}
FILERS = {"applicant-a1", "admin"}
AUDITORS = {"auditor", "admin"}
#: Who may change an application besides its applicant (update_application): coordinators.
APPLICATION_EDITORS = {"coordinator", "partner", "admin"}


def only(roles, success=200):
    return page(lambda role, own: success if role in roles else 403)


def application_edit_expected(success: int):
    def expected(role, own) -> Expected:
        if role == "anonymous":
            return LOGIN
        if role in APPLICATION_EDITORS:
            return success
        if role == "auditor":  # sees every case, changes nothing
            return 403
        return success if (role, own) == ("applicant-a1", "own") else 404
    return expected


def application_snapshot(ctx: Ctx, own: str):
    c = draft_case(ctx, own)
    return c.application.__class__.objects.get(pk=c.application.pk).name_en, AuditEntry.objects.filter(chain=c.ref).count()


def sheet_expected(success: int):
    def expected(role, own) -> Expected:
        if role == "anonymous":
            return LOGIN
        if role not in SCORERS:
            return 403
        return success if own == "own" else 404
    return expected


def sheet_snapshot(ctx: Ctx, own: str):
    sheet = sheet_of(ctx, own)
    return sheet.scores.count(), AuditEntry.objects.filter(chain=case("A9").ref).count()


def accepted_case(ctx: Ctx) -> Case:
    """A case of the open round whose application was filed by applicant-a1 and accepted (no experts yet)."""
    def make():
        from processes.submission.services import file_new_application, submit_application
        from workflow.tasks import take

        values = {"name_en": "Matrix accepted", "region": "Almaty", "sector": "food", "anchor_enterprises": 1,
                  "smes": 2, "employees": 3, "export_share_pct": 4, "research_partners": 1}
        application = file_new_application(round=open_round(ctx), applicant=user("applicant-a1"), values=values)
        submit_application(application=application, actor=user("applicant-a1"))
        take(application, "accept", actor=user("coordinator"))
        return application.case
    return _cached(ctx, "accepted", make)


def dossier_request(ctx: Ctx, own: str):
    """A real dossier of A1, uploaded for checking against this installation."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from documents.dossier import build_dossier

    stream = io.BytesIO()
    build_dossier(case("A1"), stream=stream)
    upload = SimpleUploadedFile("dossier-A1.zip", stream.getvalue(), content_type="application/zip")
    return reverse("portal:dossier-verify"), {"file": upload, "database": "1"}


MATRIX.update({
    "portal:coordinator": Endpoint(
        expect={"GET": only(WORKERS), "POST": method_not_allowed},
        build=lambda ctx, own: (reverse("portal:coordinator"), {})),
    "portal:round-ranking": Endpoint(
        expect={"GET": only(STAFF_VIEWERS), "POST": method_not_allowed},
        build=lambda ctx, own: (reverse("portal:round-ranking", args=["TC-2017"]), {})),
    "portal:expert": Endpoint(
        expect={"GET": only(SCORERS), "POST": method_not_allowed},
        build=lambda ctx, own: (reverse("portal:expert"), {})),
    # own: a draft sheet of the user's; other: expert2's (404 even for the superuser: a sheet is its expert's)
    "portal:score-sheet": Endpoint(
        expect={"GET": sheet_expected(200), "POST": sheet_expected(302)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:score-sheet", args=[sheet_of(ctx, own).pk]),
                                {"action": "save", "score-C1": "7", "comment-C1": "matrix"}),
        snapshot=sheet_snapshot,
        changed=lambda before, after: after == (before[0] + 1, before[1] + 1)),
    "portal:signatory": Endpoint(
        expect={"GET": only(SIGNERS), "POST": method_not_allowed},
        build=lambda ctx, own: (reverse("portal:signatory"), {})),
    # the preview follows the download: whoever may download a version may read it
    "portal:document-preview": Endpoint(
        expect={"GET": page(lambda role, own: 200 if sees_case(role, own) else 404), "POST": method_not_allowed},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:document-preview",
                                        args=[version_of(case_number(ctx.role, own)).pk]), {})),
    "portal:application-new": Endpoint(
        expect={"GET": only(FILERS), "POST": only(FILERS, 302)},
        build=lambda ctx, own: (reverse("portal:application-new", args=[open_round(ctx).code]),
                                {"name_en": "Matrix new", "language": "kk"}),
        snapshot=lambda ctx, own: Case.objects.filter(round__code="MATRIX-OPEN").count(),
        changed=lambda before, after: after == before + 1),
    # own: applicant-a1's draft; other: another applicant's draft (staff see both)
    "portal:application-edit": Endpoint(
        expect={"GET": application_edit_expected(200), "POST": application_edit_expected(302)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:application-edit", args=[draft_case(ctx, own).pk]),
                                {"action": "save", "name_en": "Matrix changed"}),
        snapshot=application_snapshot,
        changed=lambda before, after: after == ("Matrix changed", before[1] + 1)),
    "portal:audit": Endpoint(
        expect={"GET": only(AUDITORS), "POST": method_not_allowed},
        build=lambda ctx, own: (reverse("portal:audit") + "?case=TC-2017/A1", {})),
    "portal:audit-verify": Endpoint(
        expect={"GET": method_not_allowed, "POST": only(AUDITORS)},
        build=lambda ctx, own: (reverse("portal:audit-verify"), {"case": "TC-2017/A1"})),
    "portal:dossier-verify": Endpoint(
        expect={"GET": only(DOSSIER_READERS), "POST": only(DOSSIER_READERS)},
        build=dossier_request),
    # experts for an accepted application: coordinators only (the applicant of the case too gets 403)
    "portal:scoring-assign": Endpoint(
        expect={"GET": method_not_allowed, "POST": only(WORKERS, 302)},
        build=lambda ctx, own: (reverse("portal:scoring-assign", args=[accepted_case(ctx).pk]),
                                {"experts": [user("expert1").pk, user("expert2").pk]}),
        snapshot=lambda ctx, own: accepted_case(ctx).application.score_sheets.count(),
        changed=lambda before, after: after == before + 2),
})


# -- the admin rows, by class ----------------------------------------------------------------------

ADMIN_VIEWS = ("changelist", "add", "change", "delete", "history")
#: Records that nobody may add, change or delete through the admin (asserted explicitly).
READ_ONLY_HISTORY = (AuditEntry, AuditChain, Document, Rendition)
#: Generic admin plumbing that is not a page of its own.
EXEMPT = {
    "admin:jsi18n": "the admin's JavaScript catalogue: static translations, no data",
    "admin:view_on_site": "redirects to a model's get_absolute_url (no registered model has one); "
                          "the target page is covered by its own row",
    "admin:autocomplete": "answers only for fields listed in autocomplete_fields (none are) and "
                          "checks the view permission of the related admin itself",
    "admin:app_list": "the per-app index: the same check and listing as admin:index",
    "admin:password_change_done": "a static confirmation page after admin:password_change",
}


def admin_user_expected(allowed: Callable[[str], Expected]) -> Callable[[str, str], Expected]:
    """Non-staff users (and anonymous ones) go to the admin login; staff get ``allowed(role)``."""
    return lambda role, own: allowed(role) if role in ("admin", "staff-noperm") else ADMIN_LOGIN


def first_object(model):
    return model._default_manager.order_by("pk").first()


def superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = user("admin")
    return request


def derived_superuser_status(model, view: str) -> int:
    """What the superuser gets, from the ModelAdmin's own ``has_*_permission``."""
    model_admin = admin.site._registry[model]
    request = superuser_request()
    if view == "changelist":
        return 200 if model_admin.has_view_or_change_permission(request) else 403
    if view == "add":
        return 200 if model_admin.has_add_permission(request) else 403
    obj = first_object(model)
    assert obj is not None, f"no {model._meta.label} to check the admin views on"
    if view == "delete":
        return 200 if model_admin.has_delete_permission(request, obj) else 403
    return 200 if model_admin.has_view_or_change_permission(request, obj) else 403


def admin_model_url(model, view: str) -> str:
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}"
    if view in ("changelist", "add"):
        return reverse(name)
    obj = first_object(model)
    return reverse(name, args=[obj.pk if obj is not None else 0])


def admin_model_endpoint(model, view: str) -> Endpoint:
    def superuser(role):
        return derived_superuser_status(model, view) if role == "admin" else 403

    expect = {"GET": admin_user_expected(superuser)}
    if model in READ_ONLY_HISTORY:
        # Explicit, not derived: history and documents are read-only even for the superuser.
        explicit = {"changelist": 200, "add": 403, "change": 200, "delete": 403, "history": 200}[view]
        expect = {"GET": admin_user_expected(lambda role: explicit if role == "admin" else 403)}
        if view in ("add", "change", "delete"):
            expect["POST"] = admin_user_expected(lambda role: 403)

    def snapshot(ctx, own):
        return model._default_manager.count(), list(model._default_manager.order_by("pk").values()[:3])

    return Endpoint(expect=expect, roles=ADMIN_ROLES,
                    build=lambda ctx, own: (admin_model_url(model, view), {"post": "yes", "key": "x", "chain": "x",
                                                                           "owner_ref": "x", "title": "x"}),
                    snapshot=snapshot if model in READ_ONLY_HISTORY else None,
                    changed=(lambda before, after: False) if model in READ_ONLY_HISTORY else None)


def _admin_rows() -> dict[str, Endpoint]:
    rows = {}
    for model in admin.site._registry:
        for view in ADMIN_VIEWS:
            rows[f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}"] = admin_model_endpoint(model, view)
    rows.update({
        "admin:index": Endpoint(expect={"GET": admin_user_expected(lambda role: 200)}, roles=ADMIN_ROLES,
                                build=lambda ctx, own: (reverse("admin:index"), {})),
        # the login page itself: staff are sent on to the index, anybody else sees the form
        "admin:login": Endpoint(
            expect={"GET": lambda role, own: 302 if role in ("admin", "staff-noperm") else 200},
            roles=ADMIN_ROLES, build=lambda ctx, own: (reverse("admin:login"), {})),
        # non-staff are sent to the admin index (then to the login); staff log out by POST only and
        # land on LOGOUT_REDIRECT_URL
        "admin:logout": Endpoint(
            expect={"GET": lambda role, own: 405 if role in ("admin", "staff-noperm") else 302,
                    "POST": lambda role, own: 302},
            roles=ADMIN_ROLES, build=lambda ctx, own: (reverse("admin:logout"), {})),
        "admin:password_change": Endpoint(expect={"GET": admin_user_expected(lambda role: 200)}, roles=ADMIN_ROLES,
                                          build=lambda ctx, own: (reverse("admin:password_change"), {})),
        # UserAdmin's extra view: set another user's password
        "admin:auth_user_password_change": Endpoint(
            expect={"GET": admin_user_expected(lambda role: 200 if role == "admin" else 403)}, roles=ADMIN_ROLES,
            build=lambda ctx, own: (reverse("admin:auth_user_password_change", args=[user("coordinator").pk]), {})),
    })
    return rows


# -- case diagram and comments, round dashboard, jobs ----------------------------------------------

#: 200 where Graphviz's dot is installed (CI installs it), else the 503 page with a message.
DIAGRAM_OK = 200 if shutil.which("dot") else 503


def comment_snapshot(ctx: Ctx, own: str):
    from processes.portal.models import CaseComment

    c = case(case_number(ctx.role, own))
    return CaseComment.objects.filter(case=c).count(), AuditEntry.objects.filter(chain=c.ref).count()


def commented(before, after) -> bool:
    return after == (before[0] + 1, before[1] + 1)


def job_of(ctx: Ctx, own: str):
    """A finished dossier job with a stored result: the user's own, or signatory2's ("other";
    also for anonymous)."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from processes.portal.models import Job

    store = ctx.__dict__.setdefault("_jobs", {})
    owner = ctx.user if own == "own" and ctx.user is not None else user("signatory2")
    if owner.pk not in store:
        content = b"PK\x05\x06" + b"\x00" * 18  # an empty ZIP
        key = default_storage.save(f"jobs/matrix/{owner.pk}.zip", ContentFile(content))
        store[owner.pk] = Job.objects.create(
            kind=Job.Kind.DOSSIER, owner=owner, status=Job.Status.DONE, progress=100, result_key=key,
            result_name="dossier-matrix.zip", result_size=len(content),
            result_sha256=hashlib.sha256(content).hexdigest())
    return store[owner.pk]


def own_job_expected(role, own) -> Expected:
    return LOGIN if role == "anonymous" else (200 if own == "own" else 404)


MATRIX.update({
    # the SVG state diagram of a case (and ?of=stage): whoever sees the case
    "portal:case-diagram": Endpoint(
        expect={"GET": page(lambda role, own: DIAGRAM_OK if sees_case(role, own) else 404),
                "POST": method_not_allowed},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:case-diagram", args=[case(case_number(ctx.role, own)).pk])
                                + ("?of=stage" if own == "own" else ""), {})),
    # a comment: whoever sees the case (an applicant its own case only); written with an audit entry
    "portal:case-comment": Endpoint(
        # an auditor changes nothing: 403 (it sees every case)
        expect={"GET": method_not_allowed, "POST": page(
            lambda role, own: 404 if not sees_case(role, own) else 403 if role == "auditor" else 302)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:case-comment", args=[case(case_number(ctx.role, own)).pk]),
                                {"text": "Matrix comment"}),
        snapshot=comment_snapshot, changed=commented),
    # the round dashboard: staff viewers
    "portal:round-dashboard": Endpoint(
        expect={"GET": page(lambda role, own: 200 if role in STAFF_VIEWERS else 403), "POST": method_not_allowed},
        build=lambda ctx, own: (reverse("portal:round-dashboard", args=["TC-2017"]), {})),
    # a job's progress and its result: its owner only, whatever the role (404 for anybody else)
    "portal:job-status": Endpoint(
        expect={"GET": own_job_expected, "POST": method_not_allowed},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:job-status", args=[job_of(ctx, own).pk]), {})),
    "portal:job-download": Endpoint(
        expect={"GET": own_job_expected, "POST": method_not_allowed},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:job-download", args=[job_of(ctx, own).pk]), {})),
})


MATRIX.update(_admin_rows())


# -- the REST API rows (api/, docs/api.md) ---------------------------------------------------------
# Anonymous requests are 401 (token authentication's challenge), never a redirect; a method an
# endpoint lacks is 405 once authenticated; an object the user may not see 404, an action it may
# not take 403, a wrong state 409. An accepted POST answers 200 (201 for an upload).

def api_expect(allowed: Callable[[str, str], Expected]) -> Callable[[str, str], Expected]:
    return lambda role, own: 401 if role == "anonymous" else allowed(role, own)


API_LIST = {"GET": api_expect(lambda role, own: 200), "POST": api_expect(method_not_allowed)}
API_SEES_CASE = api_expect(lambda role, own: 200 if sees_case(role, own) else 404)


def api_read(url_name: str, obj: Callable[[Ctx, str], object]) -> Endpoint:
    """A read-only detail endpoint of the object ``obj(ctx, own)``: 200 when the user sees its case."""
    return Endpoint(expect={"GET": API_SEES_CASE, "POST": api_expect(method_not_allowed)}, ownerships=OWNED,
                    build=lambda ctx, own: (reverse(url_name, args=[obj(ctx, own).pk]), {}))


def api_from_portal(expected: Callable[[str, str], Expected], ok: int = 200) -> Callable[[str, str], Expected]:
    """The portal row's expectation with the API's answers: 401 for LOGIN, ``ok`` for a redirect."""
    def expect(role, own):
        answer = expected(role, own)
        return 401 if answer == LOGIN else ok if answer == 302 else answer
    return expect


def own_case(ctx: Ctx, own: str) -> Case:
    return case(case_number(ctx.role, own))


def score_sheet_of(ctx: Ctx, own: str):
    """expert1's sheet on A1 ("own"), expert2's on A1 ("other")."""
    from processes.selection.models import ScoreSheet

    return ScoreSheet.objects.get(application__case=case("A1"), expert__username="expert1" if own == "own" else "expert2")


def score_sheet_expected(role, own) -> Expected:
    return 200 if role in STAFF_VIEWERS or (role, own) == ("expert1", "own") else 404


def score_sheet_snapshot(ctx: Ctx, own: str):
    sheet = score_sheet_of(ctx, own)
    return sheet.state, sheet.conflict_note, AuditEntry.objects.filter(chain="TC-2017/A1").count()


def application_snapshot(ctx: Ctx, own: str):
    c = own_case(ctx, own)
    return c.application.state, AuditEntry.objects.filter(chain=c.ref).count()


def decision_sees(role, own) -> bool:
    return own == "own" or role in STAFF_VIEWERS or role == "expert1"  # expert1 scored A2 as well


def task_visible(role, own) -> bool:
    return own == "own" or role in ("coordinator", "admin")  # managers and the superuser see every open task


def rejected(before, after) -> bool:
    return after[0] == "rejected" and after[2] > before[2]


def api_attachment_request(ctx: Ctx, own: str):
    url, data = attachment_request(ctx, own)
    return reverse("api:case-attachments", args=[own_case(ctx, own).pk]), data


def new_cases(ctx: Ctx, own: str):
    return Case.objects.count(), AuditEntry.objects.count()


MATRIX.update({
    # the schema and its page are public, like the API's description
    "api:schema": Endpoint(expect={"GET": lambda role, own: 200, "POST": method_not_allowed},
                           build=lambda ctx, own: (reverse("api:schema"), {})),
    "api:docs": Endpoint(expect={"GET": lambda role, own: 200, "POST": method_not_allowed},
                         build=lambda ctx, own: (reverse("api:docs"), {})),
    "api:case-list": Endpoint(expect=API_LIST, build=lambda ctx, own: (reverse("api:case-list"), {})),
    "api:case-detail": api_read("api:case-detail", own_case),
    "api:case-transitions": api_read("api:case-transitions", own_case),
    "api:case-transition": Endpoint(
        expect={"GET": api_expect(method_not_allowed), "POST": api_from_portal(transition_expected)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("api:case-transition", args=[own_case(ctx, own).pk, "suspend"]),
                                {"comment": "m"}),
        snapshot=case_snapshot, changed=moved_to_suspended, accepted=frozenset({200})),
    "api:case-attachments": Endpoint(
        expect={"GET": api_expect(method_not_allowed), "POST": api_from_portal(attachment_expected, ok=201)},
        ownerships=OWNED, build=api_attachment_request, snapshot=attachment_snapshot, changed=attached,
        accepted=frozenset({201})),
    # filing needs the applicant role (the superuser holds it) and an open round: TC-2017 is published
    "api:application-list": Endpoint(
        expect={"GET": api_expect(lambda role, own: 200),
                "POST": api_expect(lambda role, own: 409 if role in ("applicant-a1", "admin") else 403)},
        build=lambda ctx, own: (reverse("api:application-list"), {"round": "TC-2017", "name_en": "Matrix"}),
        snapshot=new_cases, changed=lambda before, after: False),
    "api:application-detail": api_read("api:application-detail", lambda ctx, own: own_case(ctx, own).application),
    "api:application-transitions": api_read("api:application-transitions",
                                            lambda ctx, own: own_case(ctx, own).application),
    # return_for_revision: coordinators only; the applications are accepted, so permitted users get 409
    "api:application-transition": Endpoint(
        expect={"GET": api_expect(method_not_allowed),
                "POST": api_expect(lambda role, own: 404 if not sees_case(role, own) else
                                   409 if role in MOVERS else 403)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("api:application-transition",
                                        args=[own_case(ctx, own).application.pk, "return_for_revision"]), {}),
        snapshot=application_snapshot, changed=lambda before, after: False),
    "api:score-sheet-list": Endpoint(expect=API_LIST, build=lambda ctx, own: (reverse("api:score-sheet-list"), {})),
    **{name: Endpoint(expect={"GET": api_expect(score_sheet_expected), "POST": api_expect(method_not_allowed)},
                      ownerships=OWNED,
                      build=(lambda name: lambda ctx, own: (reverse(name, args=[score_sheet_of(ctx, own).pk]), {}))(name))
       for name in ("api:score-sheet-detail", "api:score-sheet-transitions")},
    # declare_conflict: the sheet's own expert only (it is submitted: 409); staff who see it 403
    "api:score-sheet-transition": Endpoint(
        expect={"GET": api_expect(method_not_allowed),
                "POST": api_expect(lambda role, own: 409 if (role, own) == ("expert1", "own") else
                                   403 if role in STAFF_VIEWERS else 404)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("api:score-sheet-transition",
                                        args=[score_sheet_of(ctx, own).pk, "declare_conflict"]), {"comment": "m"}),
        snapshot=score_sheet_snapshot, changed=lambda before, after: False),
    "api:document-list": Endpoint(expect=API_LIST, build=lambda ctx, own: (reverse("api:document-list"), {})),
    "api:document-detail": api_read("api:document-detail",
                                    lambda ctx, own: version_of(case_number(ctx.role, own)).document),
    "api:document-versions": api_read("api:document-versions",
                                      lambda ctx, own: version_of(case_number(ctx.role, own)).document),
    "api:version-detail": api_read("api:version-detail", lambda ctx, own: version_of(case_number(ctx.role, own))),
    "api:version-download": api_read("api:version-download",
                                     lambda ctx, own: version_of(case_number(ctx.role, own))),
    "api:task-list": Endpoint(expect=API_LIST, build=lambda ctx, own: (reverse("api:task-list"), {})),
    "api:task-detail": Endpoint(
        expect={"GET": api_expect(lambda role, own: 200 if task_visible(role, own) else 404),
                "POST": api_expect(method_not_allowed)},
        ownerships=OWNED, build=lambda ctx, own: (reverse("api:task-detail", args=[ctx.task(own).pk]), {})),
    **{f"api:task-{action}": Endpoint(
        expect={"GET": api_expect(method_not_allowed), "POST": api_from_portal(task_expected(action))},
        ownerships=OWNED,
        build=(lambda action: lambda ctx, own: (reverse(f"api:task-{action}", args=[ctx.task(own).pk]),
                                                {"transition": "approve"}))(action),
        snapshot=task_snapshot, changed=task_changed(action), accepted=frozenset({200}))
       for action in ("claim", "unassign", "complete")},
    "api:approval-list": Endpoint(expect=API_LIST, build=lambda ctx, own: (reverse("api:approval-list"), {})),
    "api:approval-detail": Endpoint(
        expect={"GET": api_expect(lambda role, own: 200 if decision_sees(role, own) else 404),
                "POST": api_expect(method_not_allowed)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("api:approval-detail", args=[ctx.decisions[own].pk]), {})),
    "api:approval-approve": Endpoint(
        expect={"GET": api_expect(method_not_allowed), "POST": api_from_portal(decision_expected)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("api:approval-approve", args=[ctx.decisions[own].pk]), {"comment": "m"}),
        snapshot=decision_snapshot, changed=decided, accepted=frozenset({200})),
    "api:approval-reject": Endpoint(
        expect={"GET": api_expect(method_not_allowed), "POST": api_from_portal(decision_expected)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("api:approval-reject", args=[ctx.decisions[own].pk]), {"comment": "m"}),
        snapshot=decision_snapshot, changed=rejected, accepted=frozenset({200})),
    "api:audit-entry-list": Endpoint(expect=API_LIST, build=lambda ctx, own: (reverse("api:audit-entry-list"), {})),
    "api:audit-entry-detail": api_read(
        "api:audit-entry-detail",
        lambda ctx, own: AuditEntry.objects.filter(chain=own_case(ctx, own).ref).order_by("seq").first()),
})

# -- the selection's and the round's steps, quarterly reports (a round run by people) ----------------

def selection_of(ctx: Ctx, own: str):
    """The selection of the cell's case (A1's is selected; A9 has none: 404 for everybody)."""
    from processes.selection.models import Selection

    found = Selection.objects.filter(application__case=own_case(ctx, own)).first()
    return found if found is not None else Selection.objects.get(application__case=case("A1"))


def selection_snapshot(ctx: Ctx, own: str):
    c = own_case(ctx, own)
    from processes.selection.models import Selection

    found = Selection.objects.filter(application__case=c).first()
    return (found.state if found else None), AuditEntry.objects.filter(chain=c.ref).count()


def step_expected(role, own) -> Expected:
    """``reject`` on a decided selection / ``close_applications`` on a published round: movers
    get 409 (wrong state), everybody else who may see it 403 (the permission comes first)."""
    if role == "anonymous":
        return LOGIN
    if not sees_case(role, own):
        return 404
    return 409 if role in MOVERS else 403


def round_snapshot(ctx: Ctx, own: str):
    from processes.rounds.models import Round

    return Round.objects.get(code="TC-2017").state, AuditEntry.objects.filter(chain="TC-2017").count()


def report_request(ctx: Ctx, own: str):
    """A complete report of A1's next quarter (its implementation is active)."""
    from processes.implementation.services import next_quarter

    c = case("A1")
    year, quarter = next_quarter(c.implementation)
    return reverse("portal:monitoring-report", args=[c.pk]), {
        "year": str(year), "quarter": str(quarter), "summary": "matrix",
        **{f"actual-{a.position}": "1" for a in c.plan.actions.all()}}


def report_snapshot(ctx: Ctx, own: str):
    c = case("A1")
    return c.implementation.reports.count(), AuditEntry.objects.filter(chain=c.ref).count()


def api_report_request(ctx: Ctx, own: str):
    c = own_case(ctx, own)
    url, data = report_request(ctx, own)
    actuals = {key.split("-")[1]: value for key, value in data.items() if key.startswith("actual-")}
    return reverse("api:case-monitoring-reports", args=[c.pk]), {"year": int(data["year"]),
                                                                "quarter": int(data["quarter"]),
                                                                "actuals": actuals}


def reports_of(c: Case) -> int:
    from processes.implementation.models import MonitoringReport

    return MonitoringReport.objects.filter(implementation__case=c).count()


def report_expected(role, own) -> Expected:
    if role == "anonymous":
        return LOGIN
    if not sees_case(role, own):
        return 404
    return 302 if role in WORKERS else 403


MATRIX.update({
    # the steps of a selection (close scoring, discuss, select, reject): coordinators (A1 is selected: 409)
    "portal:selection-transition": Endpoint(
        expect={"GET": method_not_allowed, "POST": step_expected},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("portal:selection-transition", args=[own_case(ctx, own).pk, "reject"]),
                                {"comment": "m"}),
        snapshot=selection_snapshot, changed=lambda before, after: False),
    # the round's steps: coordinators (TC-2017 is published: 409); anybody else 403
    "portal:round-transition": Endpoint(
        expect={"GET": method_not_allowed,
                "POST": page(lambda role, own: 409 if role in MOVERS else 403)},
        build=lambda ctx, own: (reverse("portal:round-transition", args=["TC-2017", "close_applications"]), {}),
        snapshot=round_snapshot, changed=lambda before, after: False),
    # a quarter's KPI actuals: coordinators (operator, partner) only; A1's implementation is active
    "portal:monitoring-report": Endpoint(
        expect={"GET": only(WORKERS), "POST": only(WORKERS, 302)},
        build=report_request, snapshot=report_snapshot,
        changed=lambda before, after: after[0] == before[0] + 1 and after[1] > before[1]),
    "api:case-monitoring-reports": Endpoint(
        expect={"GET": api_expect(method_not_allowed), "POST": api_from_portal(report_expected, ok=201)},
        ownerships=OWNED, build=api_report_request,
        snapshot=lambda ctx, own: (reports_of(own_case(ctx, own)),
                                   AuditEntry.objects.filter(chain=own_case(ctx, own).ref).count()),
        changed=lambda before, after: after[0] == before[0] + 1, accepted=frozenset({201}), json=True),
    # selections: staff viewers only (404 for anybody else); rounds: every signed-in user reads them
    "api:selection-list": Endpoint(expect=API_LIST, build=lambda ctx, own: (reverse("api:selection-list"), {})),
    **{name: Endpoint(expect={"GET": api_expect(lambda role, own: 200 if role in STAFF_VIEWERS else 404),
                              "POST": api_expect(method_not_allowed)},
                      ownerships=OWNED,
                      build=(lambda name: lambda ctx, own: (reverse(name, args=[selection_of(ctx, own).pk]), {}))(name))
       for name in ("api:selection-detail", "api:selection-transitions")},
    "api:selection-transition": Endpoint(
        expect={"GET": api_expect(method_not_allowed),
                "POST": api_expect(lambda role, own: 404 if role not in STAFF_VIEWERS else
                                   409 if role in MOVERS else 403)},
        ownerships=OWNED,
        build=lambda ctx, own: (reverse("api:selection-transition", args=[selection_of(ctx, own).pk, "reject"]),
                                {"comment": "m"}),
        snapshot=lambda ctx, own: (selection_of(ctx, own).state,
                                   AuditEntry.objects.filter(chain=selection_of(ctx, own).audit_chain).count()),
        changed=lambda before, after: False),
    "api:round-list": Endpoint(expect=API_LIST, build=lambda ctx, own: (reverse("api:round-list"), {})),
    **{name: Endpoint(expect={"GET": api_expect(lambda role, own: 200), "POST": api_expect(method_not_allowed)},
                      build=(lambda name: lambda ctx, own: (reverse(name, args=["TC-2017"]), {}))(name))
       for name in ("api:round-detail", "api:round-transitions")},
    "api:round-transition": Endpoint(
        expect={"GET": api_expect(method_not_allowed),
                "POST": api_expect(lambda role, own: 409 if role in MOVERS else 403)},
        build=lambda ctx, own: (reverse("api:round-transition", args=["TC-2017", "close_applications"]), {}),
        snapshot=round_snapshot, changed=lambda before, after: False),
})


# -- the stage objects after selection (api/stages.py) ---------------------------------------------
# A1 and A4 are in implementation with every stage object: creating one for a case is 409 for the
# movers (the case is not in that stage), 403 for anybody else who sees the case, 404 for the rest;
# a transition from the wrong state 409 for movers, 403 for the others who see it.

#: The fields of a stage object made for a cell's case that has none.
STAGE_DEFAULTS = {"diagnosis": {}, "plan": {}, "supportmeasure": {"title": "m", "amount_kzt": 1, "reimbursement_pct": 1},
                  "implementation": {"started_on": dt.date(2018, 1, 1)}}


def stage_object(model):
    """The ``model`` object of the cell's case (A1 and A4 have every one; for another case,
    e.g. an expert's A9 that it never scored, one is made in the cell's transaction)."""
    def get(ctx: Ctx, own: str):
        c = own_case(ctx, own)
        found = model.objects.filter(case=c).order_by("pk").first()
        return found if found is not None else model.objects.create(case=c, **STAGE_DEFAULTS[model._meta.model_name])
    return get


def stage_snapshot(model):
    def snap(ctx: Ctx, own: str):
        obj = stage_object(model)(ctx, own)
        return obj.state, model.objects.count(), AuditEntry.objects.filter(chain=obj.audit_chain).count()
    return snap


def stage_rows(prefix: str, model, transition: str, create: dict) -> dict[str, Endpoint]:
    refused = api_expect(lambda role, own: 404 if not sees_case(role, own) else 409 if role in MOVERS else 403)
    return {
        f"api:{prefix}-list": Endpoint(
            expect={"GET": api_expect(lambda role, own: 200), "POST": refused}, ownerships=OWNED,
            build=lambda ctx, own: (reverse(f"api:{prefix}-list"), {"case": own_case(ctx, own).pk, **create}),
            snapshot=stage_snapshot(model), changed=lambda before, after: False, json=True),
        **{name: api_read(name, stage_object(model))
           for name in (f"api:{prefix}-detail", f"api:{prefix}-transitions")},
        f"api:{prefix}-transition": Endpoint(
            expect={"GET": api_expect(method_not_allowed), "POST": refused}, ownerships=OWNED,
            build=lambda ctx, own: (reverse(f"api:{prefix}-transition", args=[stage_object(model)(ctx, own).pk,
                                                                                transition]), {"comment": "m"}),
            snapshot=stage_snapshot(model), changed=lambda before, after: False),
    }


def _stage_matrix() -> dict[str, Endpoint]:
    from processes.diagnosis.models import Diagnosis
    from processes.implementation.models import Implementation
    from processes.planning.models import Plan
    from processes.support.models import SupportMeasure

    return {
        **stage_rows("diagnosis", Diagnosis, "return_to_draft", {"assessors": "m"}),
        # the assessment of an approved diagnosis: 409 for movers (A1's areas are the round's)
        "api:diagnosis-assessment": Endpoint(
            expect={"GET": api_expect(method_not_allowed),
                    "POST": api_expect(lambda role, own: 404 if not sees_case(role, own) else
                                       409 if role in MOVERS else 403)},
            ownerships=OWNED,
            build=lambda ctx, own: (reverse("api:diagnosis-assessment", args=[stage_object(Diagnosis)(ctx, own).pk]),
                                    {"areas": [{"area": a, "score_pct": 50}
                                               for a in own_case(ctx, own).round.diagnosis_areas]}),
            snapshot=stage_snapshot(Diagnosis), changed=lambda before, after: False, json=True),
        **stage_rows("plan", Plan, "request_revision", {"vision": "m"}),
        **stage_rows("support-measure", SupportMeasure, "decline",
                     {"title": "m", "amount_kzt": "1", "reimbursement_pct": "1", "bodies": ["m"]}),
        **stage_rows("implementation", Implementation, "resume", {"started_on": "2018-01-01"}),
    }


MATRIX.update(_stage_matrix())


# -- the case page's stage forms (processes/portal/stages.py) ---------------------------------------
# A2 (not selected, no stage object) is put in the form's stage inside the cell's transaction:
# coordinators (operator, partner) and the superuser create the object (302), every other role
# gets 403 and changes nothing; wrong stages and states are tests/portal/test_stage_forms.py's.

#: The stage of each form and a complete POST creating its object.
STAGE_FORM_POSTS = {
    "diagnosis": ("diagnosis", {"state": "", "assessors": "matrix"}),
    "plan": ("planning", {"fingerprint": "", "do": "save", "row-1-measure": "m", "row-1-responsible": "r",
                          "row-1-deadline": "30.06.2018", "row-1-budget_kzt": "1 000", "row-1-kpi": "k",
                          "row-1-kpi_target": "1"}),
    "support": ("support", {"measures": "0", "title": "matrix", "amount_kzt": "1", "reimbursement_pct": "1",
                            "bodies": "Ministry"}),
}


def stage_form_request(form: str):
    def build(ctx: Ctx, own: str):
        stage, data = STAGE_FORM_POSTS[form]
        Case.objects.filter(ref="TC-2017/A2").update(state=stage)
        return reverse(f"portal:stage-{form}", args=[case("A2").pk]), dict(data)
    return build


def stage_form_snapshot(ctx: Ctx, own: str):
    from processes.diagnosis.models import Diagnosis
    from processes.planning.models import Plan
    from processes.support.models import SupportMeasure

    a2 = case("A2")
    return (Diagnosis.objects.filter(case=a2).count(), Plan.objects.filter(case=a2).count(),
            SupportMeasure.objects.filter(case=a2).count(), AuditEntry.objects.filter(chain=a2.ref).count())


MATRIX.update({
    f"portal:stage-{form}": Endpoint(
        expect={"GET": only(WORKERS), "POST": only(WORKERS, 302)},
        build=stage_form_request(form), snapshot=stage_form_snapshot,
        changed=lambda before, after: sum(after[:3]) == sum(before[:3]) + 1 and after[3] > before[3])
    for form in STAGE_FORM_POSTS
})


#: Cells that fail because of a known product bug, marked strict xfail with the reason; empty
#: when none is known (a fixed bug makes its strict xfail fail, so the entry is removed).
KNOWN_BUGS: dict = {}


# -- coverage of the URL configuration ------------------------------------------------------------

def url_patterns(patterns=None, namespace=None, prefix=""):
    """``(name with namespace or None, route)`` of every URL pattern, recursively."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from url_patterns(pattern.url_patterns, ns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name, prefix + str(pattern.pattern)


def uncovered(names) -> set[str]:
    """The URL names the matrix neither lists nor exempts."""
    return {name for name in names if name not in MATRIX and name not in EXEMPT}


def test_every_url_is_in_the_matrix():
    named = {name for name, _ in url_patterns() if name}
    assert uncovered(named) == set(), "add these URLs to MATRIX in tests/portal/test_authorization_matrix.py"
    unnamed = [route for name, route in url_patterns() if not name and not route.startswith("admin/")]
    assert unnamed == [], "unnamed URL patterns cannot be checked by the matrix; name them"
    assert set(MATRIX) - named == set(), "the matrix lists URLs that do not exist"
    assert set(EXEMPT) <= named


def test_a_url_missing_from_the_matrix_fails_the_coverage_check():
    named = {name for name, _ in url_patterns() if name}
    new = {"portal:case-export", "admin:rounds_case_export", "admin:reports_report_changelist", "healthz"}
    assert uncovered(named | new) == new


def test_every_registered_model_admin_has_its_rows():
    for model, model_admin in admin.site._registry.items():
        for view in ADMIN_VIEWS:
            assert f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}" in MATRIX
    for model in READ_ONLY_HISTORY:
        assert model in admin.site._registry


def test_every_registered_model_has_an_object_for_the_admin_cells(world):
    empty = [model._meta.label for model in admin.site._registry if first_object(model) is None]
    assert empty == []


# -- the cells -------------------------------------------------------------------------------------

def cells():
    for name, endpoint in MATRIX.items():
        for method in endpoint.expect:
            for role in endpoint.roles:
                for ownership in endpoint.ownerships:
                    key = (name, method, role, ownership)
                    marks = [pytest.mark.xfail(reason=KNOWN_BUGS[key], strict=True)] if key in KNOWN_BUGS else []
                    yield pytest.param(*key, id="|".join(key), marks=marks)


CELLS = list(cells())


def check_status(response, expected: Expected, url: str, method: str):
    where = f"{method} {url}"
    if expected == LOGIN:
        assert response.status_code == 302, where
        login_url = reverse("login")
        assert response["Location"] == f"{login_url}?next={quote(url)}", where
    elif expected == ADMIN_LOGIN:
        assert response.status_code == 302, where
        assert response["Location"].startswith(reverse("admin:login") + "?next="), where
    else:
        assert response.status_code == expected, f"{where}: {response.status_code} != {expected}"
        if expected == 302:
            assert not response["Location"].startswith(reverse("login") + "?"), where


@pytest.mark.parametrize(("name", "method", "role", "ownership"), CELLS)
def test_cell(world, client, name, method, role, ownership):
    endpoint = MATRIX[name]
    ctx = Ctx(role)
    expected = endpoint.expect[method](role, ownership)
    url, data = endpoint.build(ctx, ownership)
    before = endpoint.snapshot(ctx, ownership) if endpoint.snapshot else None
    entries = AuditEntry.objects.count()
    login(client, role)
    if method == "GET":
        response = client.get(url)
    elif endpoint.json:
        response = client.post(url, data, content_type="application/json")
    else:
        response = client.post(url, data)
    check_status(response, expected, url, method)
    if endpoint.snapshot is None:
        return
    after = endpoint.snapshot(ctx, ownership)
    succeeded = method == "POST" and expected in endpoint.accepted and role != "anonymous"
    if succeeded:
        assert endpoint.changed(before, after), f"{method} {url} answered {expected} but did nothing"
    else:
        assert after == before, f"{method} {url} was refused but changed {before} -> {after}"
        assert AuditEntry.objects.count() == entries, "a refused request wrote an audit entry"


def test_the_matrix_is_large_enough():
    assert len(CELLS) > 1000


def csrf_cells():
    """Every POST URL outside the admin and the API that accepts a POST from the superuser."""
    for name, endpoint in MATRIX.items():
        if name.startswith(("admin:", "api:")) or "POST" not in endpoint.expect:
            continue
        if endpoint.expect["POST"]("admin", endpoint.ownerships[0]) == 405:
            continue
        yield pytest.param(name, id=name)


@pytest.mark.parametrize("name", list(csrf_cells()))
def test_a_post_without_csrf_token_is_refused(world, name):
    """CSRF: the same POST as the matrix's, without the token, is refused (403) and changes nothing."""
    from django.test import Client

    endpoint = MATRIX[name]
    ctx, own = Ctx("admin"), endpoint.ownerships[0]
    url, data = endpoint.build(ctx, own)
    before = endpoint.snapshot(ctx, own) if endpoint.snapshot else None
    entries = AuditEntry.objects.count()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user("admin"))
    response = client.post(url, data)
    assert response.status_code == 403, f"POST {url} without a CSRF token: {response.status_code}"
    if endpoint.snapshot is not None:
        assert endpoint.snapshot(ctx, own) == before
    assert AuditEntry.objects.count() == entries


def test_every_portal_post_url_is_checked_for_csrf():
    checked = {p.values[0] for p in csrf_cells()}
    assert {"portal:case-comment", "portal:case-transition", "portal:case-bulk", "portal:case-dossier",
            "portal:case-attachment-upload", "portal:decision", "login", "logout"} <= checked


# -- admin actions and bulk actions by users lacking the right -------------------------------------

@pytest.fixture
def signing_plan(world):
    """A plan of A2 sent for signing: its approval is open, signatory1 and signatory2 pending."""
    from processes.planning.models import Plan, PlanAction
    from processes.planning.services import send_for_signing
    from workflow.transitions import perform

    coordinator = user("coordinator")
    plan = Plan.objects.create(case=case("A2"), vision="v", governance="g")
    PlanAction.objects.create(plan=plan, position=1, measure="m", responsible="r", deadline=dt.date(2018, 1, 1),
                              budget_kzt=1, kpi="k", kpi_target=1)
    perform(plan, "submit_for_review", actor=coordinator)
    approval = send_for_signing(plan=plan, actor=coordinator)
    plan.refresh_from_db()
    assert plan.state == "signing" and approval.state == "open"
    assert set(approval.decisions.values_list("state", flat=True)) == {"pending"}
    return plan, approval


def admin_messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_admin_decision_action_by_a_staff_coordinator_who_is_not_a_signatory(client, signing_plan):
    _, approval = signing_plan
    decision = approval.decisions.get(position=1)
    entries = AuditEntry.objects.count()
    client.force_login(user("staff-coordinator"))
    changelist = reverse("admin:approvals_decision_changelist")
    assert client.get(changelist).status_code == 200
    response = client.post(changelist, {"action": "approve_decisions", "_selected_action": [decision.pk]},
                           follow=True)
    assert response.status_code == 200
    assert "Nothing was changed" in admin_messages(response)
    assert "may not “approve”" in admin_messages(response)
    decision.refresh_from_db()
    approval.refresh_from_db()
    assert (decision.state, decision.decided_by_id, approval.state) == ("pending", None, "open")
    assert AuditEntry.objects.count() == entries


@pytest.mark.parametrize("username", ["staff-coordinator", "admin"])
def test_admin_plan_approve_action_on_an_incomplete_approval_changes_nothing(client, signing_plan, username):
    plan, approval = signing_plan
    entries = AuditEntry.objects.count()
    client.force_login(user(username))
    response = client.post(reverse("admin:planning_plan_changelist"),
                           {"action": "transition_approve", "_selected_action": [plan.pk]}, follow=True)
    assert response.status_code == 200
    text = admin_messages(response)
    assert "Nothing was changed" in text and "must be approved" in text
    plan.refresh_from_db()
    assert plan.state == "signing"
    assert AuditEntry.objects.count() == entries


def bulk(client, role, numbers, transition="suspend"):
    login(client, role)
    return client.post(reverse("portal:case-bulk"),
                       {"transition": transition, "cases": [case(n).pk for n in numbers]})


def states(*numbers):
    return [case(n).state for n in numbers]


def test_bulk_suspend_by_an_auditor_is_refused_and_changes_nothing(world, client):
    entries = AuditEntry.objects.count()
    response = bulk(client, "auditor", ["A1", "A4"])
    assert response.status_code == 403
    assert "requires the role" in response.content.decode()
    assert states("A1", "A4") == ["implementation", "implementation"]
    assert AuditEntry.objects.count() == entries


def test_bulk_suspend_by_a_coordinator_suspends_both(world, client):
    response = bulk(client, "coordinator", ["A1", "A4"])
    assert response.status_code == 302 and response["Location"] == reverse("portal:case-list")
    assert states("A1", "A4") == ["suspended", "suspended"]
    for number in ("A1", "A4"):
        last = AuditEntry.objects.filter(chain=f"TC-2017/{number}").order_by("-seq").first()
        assert (last.transition, last.actor_username) == ("suspend", "coordinator")


@pytest.mark.parametrize("order", [["A1", "A2"], ["A2", "A1"]])
def test_bulk_is_all_or_nothing(world, client, order):
    entries = AuditEntry.objects.count()
    response = bulk(client, "coordinator", order)
    assert response.status_code == 409
    assert "“not selected”" in response.content.decode()  # the refused case's state, by its label
    assert states("A1", "A2") == ["implementation", "not_selected"]
    assert AuditEntry.objects.count() == entries


# -- experts: assignment and conflicts of interest -------------------------------------------------

def test_an_expert_sees_only_the_cases_it_is_assigned_to_and_not_after_a_conflict(world, client):
    from processes.selection.models import ScoreSheet
    from workflow.transitions import perform

    expert3 = ensure_user("expert3", "expert")
    client.force_login(expert3)
    detail = {n: reverse("portal:case-detail", args=[case(n).pk]) for n in ("A2", "A3")}
    assert list(client.get(reverse("portal:case-list")).context["cases"]) == []
    assert client.get(detail["A2"]).status_code == 404
    from processes.selection.models import Selection

    # scoring still open on both (it is closed once a selection is decided)
    Selection.objects.filter(application__case__ref__in=["TC-2017/A2", "TC-2017/A3"]).update(state="scoring")
    sheets = {n: ScoreSheet.objects.create(application=case(n).application, expert=expert3) for n in ("A2", "A3")}
    assert client.get(detail["A2"]).status_code == 200
    perform(sheets["A2"], "declare_conflict", actor=expert3, comment="my cousin runs it")
    assert client.get(detail["A2"]).status_code == 404
    assert client.get(detail["A3"]).status_code == 200
    listed = client.get(reverse("portal:case-list")).context["cases"]
    assert [c.ref for c in listed] == ["TC-2017/A3"]


def test_a_delegation_scoped_to_one_approval_shows_only_that_case(world, client):
    from workflow.approvals.services import delegate

    version = version_of("A1")
    approval = request_approval(subject=version, sha256=version.sha256, version=version.number, key="scoped:A1",
                                chain="TC-2017/A1", title="Scoped", author=user("coordinator"),
                                signatories=[Signatory(user("signatory1"))], actor=user("coordinator"))
    deputy = ensure_user("deputy", "signatory")  # a signatory asked for nothing: sees no case of its own
    today = dt.date.today()
    delegate(owner=user("signatory1"), deputy=deputy, approval=approval, starts_on=today - dt.timedelta(days=1),
             ends_on=today + dt.timedelta(days=1), actor=user("coordinator"))
    client.force_login(deputy)
    assert client.get(reverse("portal:case-detail", args=[case("A1").pk])).status_code == 200
    assert client.get(reverse("portal:case-detail", args=[case("A4").pk])).status_code == 404
