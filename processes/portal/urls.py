from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.case_list, name="case-list"),
    path("cases/<int:pk>/", views.case_detail, name="case-detail"),
    path("documents/versions/<int:pk>/download/", views.document_download, name="document-download"),
    path("rounds/<str:code>/", views.round_detail, name="round-detail"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/tasks/<int:pk>/claim/", views.task_claim, name="task-claim"),
    path("inbox/tasks/<int:pk>/unassign/", views.task_unassign, name="task-unassign"),
    path("inbox/tasks/<int:pk>/complete/", views.task_complete, name="task-complete"),
]
