"""Kelisim's S3 (MinIO) storage backend: django-storages' ``S3Storage`` with boto3 sessions
that share one process-wide botocore data loader.

Why: ``S3Storage`` keeps one boto3 resource per thread (boto3 resources are not thread-safe),
and every new ``boto3.Session`` has a loader of its own that parses botocore's S3 service
model, endpoint and partition files again: 120-210 ms of CPU the first time each gunicorn
thread (or Celery thread) touches the storage, measured on this project's machine, which
surfaced as the slowest uploads and downloads of the load test (docs/load.md). With the shared
loader a thread's first resource costs about 15 ms; :func:`warm` loads the models once per
process (gunicorn's ``post_worker_init``, Celery's ``worker_process_init``), before a request
waits for it.

The loader only reads botocore's packaged JSON files and caches what it read per instance; the
per-thread sessions, clients and resources stay separate, as boto3 requires.
"""

from __future__ import annotations

import threading

import boto3
import botocore.session
from storages.backends.s3 import S3Storage as _S3Storage

_loader = None
_loader_lock = threading.Lock()


def shared_loader():
    """The process's botocore ``Loader`` (created on first use; thread-safe)."""
    global _loader
    if _loader is None:
        with _loader_lock:
            if _loader is None:
                _loader = botocore.session.get_session().get_component("data_loader")
    return _loader


class S3Storage(_S3Storage):
    """``storages.backends.s3.S3Storage`` whose sessions use :func:`shared_loader`.

    Same options and behaviour as the parent (settings/storage_url.py builds them); only the
    cost of a thread's first connection changes. ``session_profile`` is not used by Kelisim
    (``STORAGE_URL`` carries the keys) and keeps the parent's behaviour."""

    def _create_session(self):
        if self.session_profile:
            return super()._create_session()
        core = botocore.session.get_session()
        core.register_component("data_loader", shared_loader())
        return boto3.Session(aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                             aws_session_token=self.security_token, botocore_session=core)


def warm() -> bool:
    """Load the S3 models into :func:`shared_loader` and open this thread's connection, when
    the default storage is an :class:`S3Storage`; makes no request to the server. Returns
    whether it did. Errors are not raised: a misconfigured storage is reported by Kelisim's
    start-up checks (E103) and by the first request that uses it."""
    from django.core.files.storage import storages

    try:
        storage = storages["default"]
    except Exception:  # noqa: BLE001 - reported elsewhere (module docstring)
        return False
    if not isinstance(storage, _S3Storage):
        return False
    try:
        storage.connection.meta.client  # resource and client: models loaded, nothing sent
    except Exception:  # noqa: BLE001 - reported elsewhere (module docstring)
        return False
    return True
