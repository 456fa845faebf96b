from django.urls import path

from .roles import applicant, auditor, coordinator, expert, signatory
from . import actions, comments, reports, dashboard, diagrams, files, jobs, language, pdf_views, views
from . import stages

app_name = "portal"

urlpatterns = [
    path("", views.case_list, name="case-list"),
    path("cases/<int:pk>/", views.case_detail, name="case-detail"),
    path("documents/versions/<int:pk>/download/", views.document_download, name="document-download"),
    path("documents/versions/<int:pk>/pdf/", pdf_views.pdf_request, name="document-pdf"),
    path("documents/renditions/<int:pk>/", pdf_views.rendition_status, name="rendition-status"),
    path("documents/renditions/<int:pk>/download/", pdf_views.rendition_download, name="rendition-download"),
    path("rounds/<str:code>/", views.round_detail, name="round-detail"),
    path("cases/<int:pk>/transitions/<slug:name>/", actions.case_transition, name="case-transition"),
    path("cases/<int:pk>/selection/transitions/<slug:name>/", actions.selection_transition,
         name="selection-transition"),
    path("rounds/<str:code>/transitions/<slug:name>/", actions.round_transition, name="round-transition"),
    path("cases/<int:pk>/reports/", reports.monitoring_report, name="monitoring-report"),
    # the stage forms after selection (processes/portal/stages.py)
    path("cases/<int:pk>/diagnosis/", stages.diagnosis_form, name="stage-diagnosis"),
    path("cases/<int:pk>/plan/", stages.plan_form, name="stage-plan"),
    path("cases/<int:pk>/support/", stages.support_form, name="stage-support"),
    path("cases/<int:pk>/attachments/", files.attachment_upload, name="case-attachment-upload"),
    path("cases/<int:pk>/dossier/", files.case_dossier, name="case-dossier"),
    path("cases/bulk/", actions.bulk_transition, name="case-bulk"),
    path("decisions/<int:pk>/<slug:verdict>/", actions.decision, name="decision"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/tasks/<int:pk>/claim/", views.task_claim, name="task-claim"),
    path("inbox/tasks/<int:pk>/unassign/", views.task_unassign, name="task-unassign"),
    path("inbox/tasks/<int:pk>/complete/", views.task_complete, name="task-complete"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("i18n/set/", language.set_language, name="set-language"),
    # the case's state diagram and comments, the round dashboard, long operations (jobs)
    path("cases/<int:pk>/diagram.svg", diagrams.case_diagram, name="case-diagram"),
    path("cases/<int:pk>/comments/", comments.case_comment, name="case-comment"),
    path("rounds/<str:code>/dashboard/", dashboard.round_dashboard, name="round-dashboard"),
    path("jobs/<int:pk>/", jobs.job_status, name="job-status"),
    path("jobs/<int:pk>/download/", jobs.job_download, name="job-download"),
    # the page each role works from (processes/portal/roles)
    path("work/", coordinator.coordinator, name="coordinator"),
    path("rounds/<str:code>/ranking/", coordinator.round_ranking, name="round-ranking"),
    path("cases/<int:pk>/experts/", coordinator.scoring_assign, name="scoring-assign"),
    path("expert/", expert.expert, name="expert"),
    path("expert/sheets/<int:pk>/", expert.score_sheet, name="score-sheet"),
    path("approvals/", signatory.signatory, name="signatory"),
    path("documents/versions/<int:pk>/preview/", signatory.document_preview, name="document-preview"),
    path("rounds/<str:code>/apply/", applicant.application_new, name="application-new"),
    path("cases/<int:pk>/application/", applicant.application_edit, name="application-edit"),
    path("audit/", auditor.audit, name="audit"),
    path("audit/verify/", auditor.audit_verify, name="audit-verify"),
    path("audit/dossiers/verify/", auditor.dossier_verify, name="dossier-verify"),
]
