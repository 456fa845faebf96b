from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed only while ``make bench`` runs (``KELISIM_BENCH=1``)."""

    name = "bench"
    label = "bench"
