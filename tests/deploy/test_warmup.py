"""operations/warmup.py and gunicorn's post_worker_init: a new web worker is warmed, then its
start-up objects are frozen out of the garbage collector."""

from __future__ import annotations

import gc

import pytest
from django.conf import settings as django_settings
from django.template import engines
from django.urls import get_resolver

from operations import warmup


def test_the_templates_warmed_are_kelisims_own():
    names = warmup._template_names()
    assert "portal/case_detail.html" in names and "portal/base.html" in names
    assert not [n for n in names if n.startswith(("admin/", "rest_framework/", "viewflow/"))]


def test_warm_web_compiles_the_templates_and_builds_the_resolver_in_every_language():
    loader = engines["django"].engine.template_loaders[0]
    loader.reset()
    get_resolver()._reverse_dict.clear()
    assert not loader.get_template_cache
    result = warmup.warm_web()
    assert result["templates"] == len(warmup._template_names()) > 0
    assert result["languages"] == len(django_settings.LANGUAGES)
    assert result["cpu_ms"] >= 0
    resolver = get_resolver()
    assert set(dict(django_settings.LANGUAGES)) <= set(resolver._reverse_dict)
    assert type(loader).__name__ == "Loader" and loader.__module__ == "django.template.loaders.cached"
    assert any(key.startswith("portal/case_detail.html") for key in loader.get_template_cache)


def test_warm_web_logs_a_broken_template_and_goes_on(monkeypatch, caplog):
    monkeypatch.setattr(warmup, "_template_names", lambda: ["portal/case_detail.html", "portal/no-such.html"])
    result = warmup.warm_web()
    assert result["templates"] == 1
    assert "portal/no-such.html" in caplog.text


@pytest.mark.parametrize("fails", [False, True])
def test_the_worker_hook_warms_then_freezes(monkeypatch, fails):
    from settings import gunicorn

    done = []

    def warm():
        done.append("warm")
        if fails:
            raise RuntimeError("broken")
        return {}
    monkeypatch.setattr(warmup, "warm_web", warm)
    monkeypatch.setattr(gc, "freeze", lambda: done.append("freeze"))
    gunicorn.post_worker_init(worker=None)  # a failure is logged, never raised: the worker serves on
    assert done == ["warm", "freeze"]
