"""URLs of the API (namespace ``api``), mounted at ``/api/`` in settings/urls.py."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from . import docs, stages, views

app_name = "api"

router = SimpleRouter()
router.register("cases", views.CaseViewSet, basename="case")
router.register("applications", views.ApplicationViewSet, basename="application")
router.register("score-sheets", views.ScoreSheetViewSet, basename="score-sheet")
router.register("selections", views.SelectionViewSet, basename="selection")
router.register("rounds", views.RoundViewSet, basename="round")
router.register("documents", views.DocumentViewSet, basename="document")
router.register("versions", views.VersionViewSet, basename="version")
router.register("tasks", views.TaskViewSet, basename="task")
router.register("approvals", views.ApprovalViewSet, basename="approval")
router.register("audit-entries", views.AuditEntryViewSet, basename="audit-entry")
router.register("diagnoses", stages.DiagnosisViewSet, basename="diagnosis")
router.register("plans", stages.PlanViewSet, basename="plan")
router.register("support-measures", stages.SupportMeasureViewSet, basename="support-measure")
router.register("implementations", stages.ImplementationViewSet, basename="implementation")

urlpatterns = [
    re_path(r"^cases/(?P<pk>%s)/attachments/$" % views.ID_REGEX, views.CaseAttachmentView.as_view(),
            name="case-attachments"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.api_docs, name="docs"),
    path("", include(router.urls)),
]
