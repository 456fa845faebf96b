"""Root URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("api.urls")),
    # /health/, /ready/, /metrics (operations/views.py, docs/operations.md)
    path("", include("operations.urls")),
    path("", include("processes.portal.urls")),
]

# A problem page with a message (413 for a too-large body) instead of Django's bare 400 page.
handler400 = "processes.portal.files.bad_request"
# JSON for unknown URLs under /api/ (api/errors.py), Django's page elsewhere.
handler404 = "api.errors.not_found"
