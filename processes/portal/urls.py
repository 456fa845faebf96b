from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.case_list, name="case-list"),
    path("cases/<int:pk>/", views.case_detail, name="case-detail"),
    path("documents/versions/<int:pk>/download/", views.document_download, name="document-download"),
    path("rounds/<str:code>/", views.round_detail, name="round-detail"),
]
