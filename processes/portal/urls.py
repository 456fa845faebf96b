from django.urls import path

from . import actions, files, language, pdf_views, views

app_name = "portal"

urlpatterns = [
    path("", views.case_list, name="case-list"),
    path("cases/<int:pk>/", views.case_detail, name="case-detail"),
    path("documents/versions/<int:pk>/download/", views.document_download, name="document-download"),
    path("documents/versions/<int:pk>/pdf/", pdf_views.pdf_request, name="document-pdf"),
    path("documents/renditions/<int:pk>/download/", pdf_views.rendition_download, name="rendition-download"),
    path("rounds/<str:code>/", views.round_detail, name="round-detail"),
    path("cases/<int:pk>/transitions/<slug:name>/", actions.case_transition, name="case-transition"),
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
]
