"""Fixtures of tests/deploy: the moto S3 server of tests/documents (a real HTTP S3 server)."""

from tests.documents.conftest import moto_server  # noqa: F401  (the fixture, shared)
