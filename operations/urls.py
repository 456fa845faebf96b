"""``/health/``, ``/ready/`` and ``/metrics`` (operations/views.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("health/", views.health, name="health"),
    path("ready/", views.ready, name="ready"),
    path("metrics", views.metrics, name="metrics"),
]
