"""Kelisim's REST API (Django REST framework) under ``/api/``: see docs/api.md."""
