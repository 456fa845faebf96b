"""documents/s3.py: the S3 backend's threads share one botocore loader; warm() loads it."""

from __future__ import annotations

import threading

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages

from documents import s3


def _in_thread(function):
    out = {}

    def run():
        try:
            out["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_the_configured_backend_is_kelisims(s3_storage):
    assert type(storages["default"]) is s3.S3Storage
    assert isinstance(default_storage._wrapped, s3.S3Storage)


def test_threads_have_their_own_connections_on_one_loader(s3_storage):
    storage = storages["default"]
    here = storage.connection
    there = _in_thread(lambda: storage.connection)
    assert here is not there  # boto3 resources are not thread-safe: one per thread, as S3Storage keeps them
    loaders = {id(c.meta.client._loader) for c in (here, there)}
    assert loaders == {id(s3.shared_loader())}
    # and they work: a file written by one thread is read by another
    name = storage.save("threads/one.txt", ContentFile(b"agreement"))
    assert _in_thread(lambda: storage.open(name).read()) == b"agreement"
    storage.delete(name)


def test_warm_opens_the_connection_of_an_s3_storage_only(s3_storage, settings):
    assert s3.warm() is True
    assert getattr(storages["default"]._connections, "connection", None) is not None
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {}}}
    assert s3.warm() is False


def test_warm_does_not_raise_on_a_broken_configuration(settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "no.such.Backend"}}
    assert s3.warm() is False


@pytest.mark.parametrize("hook", ["gunicorn", "celery"])
def test_the_process_start_hooks_warm_the_storage(hook, monkeypatch):
    called = []
    monkeypatch.setattr(s3, "warm", lambda: called.append(hook) or True)
    if hook == "gunicorn":
        import gc

        from settings import gunicorn

        monkeypatch.setattr(gc, "freeze", lambda: None)  # the test process keeps its collector as it is
        gunicorn.post_worker_init(worker=None)
    else:
        from celery import signals

        signals.worker_process_init.send(sender=None)
    assert called == [hook]
