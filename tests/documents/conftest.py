"""S3 fixtures: a real HTTP S3 server (moto's ``ThreadedMotoServer``) in this process.

``moto_server`` starts one server on a free port for the session; ``s3_storage`` creates a
fresh bucket on it and switches Django's default storage to it through
``override_settings(STORAGES=...)`` (Django's ``setting_changed`` receiver resets the storage
handler and ``default_storage``; the fixture checks that the switch really happened and
that it is undone afterwards). ``s3_outage`` gives a test its own server that it may stop
and start again on the same port.
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field

import boto3
import pytest
from django.core.files.storage import default_storage
from django.test import override_settings

from settings.storage_url import parse_storage_url

ACCESS_KEY = "kelisim-test"
SECRET_KEY = "kelisim/test+secret"  # a '/' and a '+': must be percent-encoded in STORAGE_URL


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """One in-process moto S3 server on ``127.0.0.1:port``; ``stop()`` closes its socket."""

    def __init__(self, port: int | None = None):
        self.port = port or _free_port()
        self._server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()  # shuts serve_forever down but leaves the socket listening
            self._server._server.server_close()  # so connections are refused, as with a dead server
            self._server = None

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1")


@dataclass
class S3Fixture:
    """What a test gets from ``s3_storage``: the bucket, a boto3 client, the STORAGE_URL."""

    server: MotoServer
    bucket: str
    url: str
    client: object = field(repr=False)

    def keys(self) -> set[str]:
        """Every object key in the bucket (paginated)."""
        found: set[str] = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            found.update(entry["Key"] for entry in page.get("Contents", ()))
        return found

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)


def storage_url_for(server: MotoServer, bucket: str) -> str:
    """``s3://KEY:SECRET@127.0.0.1:PORT/BUCKET?secure=0`` with the secret percent-encoded."""
    from urllib.parse import quote

    return f"s3://{quote(ACCESS_KEY, safe='')}:{quote(SECRET_KEY, safe='')}@127.0.0.1:{server.port}/{bucket}?secure=0"


def _use_bucket(server: MotoServer, extra_options: dict | None = None):
    """Create a bucket on ``server``; return (fixture, STORAGES dict using it)."""
    bucket = f"kelisim-{uuid.uuid4().hex[:12]}"
    client = server.client()
    client.create_bucket(Bucket=bucket)
    url = storage_url_for(server, bucket)
    default = parse_storage_url(url)
    default["OPTIONS"].update(extra_options or {})
    from django.conf import settings

    storages = {**settings.STORAGES, "default": default}
    return S3Fixture(server=server, bucket=bucket, url=url, client=client), storages


def _empty_bucket(fixture: S3Fixture) -> None:
    keys = sorted(fixture.keys())
    for start in range(0, len(keys), 1000):
        fixture.client.delete_objects(Bucket=fixture.bucket, Delete={
            "Objects": [{"Key": key} for key in keys[start:start + 1000]]})
    fixture.client.delete_bucket(Bucket=fixture.bucket)


class _Switch:
    """Switch the default storage to ``storages`` and back, checking both directions."""

    def __init__(self, storages: dict):
        self.override = override_settings(STORAGES=storages)
        self.bucket = storages["default"]["OPTIONS"]["bucket_name"]

    def __enter__(self):
        self.override.enable()
        assert type(default_storage).__name__ == "DefaultStorage"
        assert default_storage.bucket_name == self.bucket, "the default storage was not switched to S3"
        return self

    def __exit__(self, *exc):
        self.override.disable()
        assert getattr(default_storage, "bucket_name", None) is None, "the S3 storage was not switched back"


@pytest.fixture(scope="session")
def moto_server():
    """A moto S3 server on a free local port for the whole session."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def s3_storage(moto_server):
    """A fresh bucket on ``moto_server`` as Django's default storage for one test."""
    fixture, storages = _use_bucket(moto_server)
    with _Switch(storages):
        yield fixture
    _empty_bucket(fixture)


@pytest.fixture
def s3_storage_with(moto_server):
    """Like ``s3_storage`` but with extra S3Storage options: ``s3_storage_with(transfer_config=...)``."""
    used: list[tuple[S3Fixture, _Switch]] = []

    def make(**options) -> S3Fixture:
        fixture, storages = _use_bucket(moto_server, options)
        switch = _Switch(storages)
        switch.__enter__()
        used.append((fixture, switch))
        return fixture

    yield make
    for fixture, switch in reversed(used):
        switch.__exit__(None, None, None)
        _empty_bucket(fixture)


@pytest.fixture
def s3_outage():
    """A test's own moto server (``.server.stop()`` / ``.server.start()`` on the same port)."""
    server = MotoServer().start()
    fixture, storages = _use_bucket(server)
    try:
        with _Switch(storages):
            yield fixture
    finally:
        if server._server is None:
            server.start()
        _empty_bucket(fixture)
        server.stop()
