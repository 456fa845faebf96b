"""Root URL configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from processes.portal.forms import LoginForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("api.urls")),
    # /health/, /ready/, /metrics (operations/views.py, docs/operations.md)
    path("", include("operations.urls")),
    path("", include("processes.portal.urls")),
]

# A problem page with a message (413 for a too-large body) instead of Django's bare 400 page.
handler400 = "processes.portal.files.bad_request"
# JSON under /api/, Kelisim's own translated pages elsewhere (processes/portal/errors.py;
# without them a 500 would be viewflow's English page).
handler404 = "processes.portal.errors.page_not_found"
handler500 = "processes.portal.errors.server_error"
