"""``STORAGE_URL`` parsing (settings/storage_url.py): both forms, and a clear
``ImproperlyConfigured`` for every malformed URL that never shows the secret key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from settings.storage_url import DEFAULT_REGION, FILE_BACKEND, S3_BACKEND, parse_storage_url

REPO = Path(__file__).resolve().parent.parent.parent
SECRET = "Sup3r/Secr3t+key"


def test_a_file_url_is_a_file_system_storage():
    assert parse_storage_url("file:///srv/kelisim/media") == {
        "BACKEND": FILE_BACKEND, "OPTIONS": {"location": "/srv/kelisim/media"}}
    assert parse_storage_url("file:///srv/kelisim%20data/") == {
        "BACKEND": FILE_BACKEND, "OPTIONS": {"location": "/srv/kelisim data/"}}
    assert parse_storage_url("file://localhost/srv/x")["OPTIONS"]["location"] == "/srv/x"


def test_an_s3_url_is_an_s3_storage_for_minio():
    config = parse_storage_url("s3://minio-user:Sup3r%2FSecr3t%2Bkey@minio.internal:9000/kelisim-docs")
    options = config["OPTIONS"]
    assert config["BACKEND"] == S3_BACKEND
    assert options["access_key"] == "minio-user" and options["secret_key"] == SECRET  # percent-decoded
    assert options["bucket_name"] == "kelisim-docs"
    assert options["endpoint_url"] == "https://minio.internal:9000" and options["use_ssl"] is True
    assert options["region_name"] == DEFAULT_REGION == "us-east-1"
    assert options["file_overwrite"] is False and options["default_acl"] is None
    assert options["querystring_auth"] is True
    client_config = options["client_config"]
    assert client_config.s3 == {"addressing_style": "path"} and client_config.signature_version == "s3v4"
    assert client_config.connect_timeout == 5 and client_config.retries["max_attempts"] == 3


def test_secure_and_region_parameters():
    options = parse_storage_url("s3://k:s@127.0.0.1:9000/bucket?secure=0&region=kz-almaty-1")["OPTIONS"]
    assert options["endpoint_url"] == "http://127.0.0.1:9000" and options["use_ssl"] is False
    assert options["region_name"] == "kz-almaty-1"
    assert parse_storage_url("s3://k:s@h:443/bucket?secure=1")["OPTIONS"]["endpoint_url"] == "https://h:443"
    assert parse_storage_url("s3://k:s@[::1]:9000/bucket?secure=0")["OPTIONS"]["endpoint_url"] == "http://[::1]:9000"


def test_the_backend_is_built_from_the_parsed_options():
    from storages.backends.s3 import S3Storage

    storage = S3Storage(**parse_storage_url(f"s3://k:{SECRET.replace('/', '%2F').replace('+', '%2B')}"
                                            "@127.0.0.1:9000/bucket?secure=0")["OPTIONS"])
    assert storage.endpoint_url == "http://127.0.0.1:9000" and storage.bucket_name == "bucket"
    assert storage.secret_key == SECRET and storage.file_overwrite is False
    assert storage.client_config.s3 == {"addressing_style": "path"}


BAD = [
    ("", "is empty"),
    ("   ", "is empty"),
    ("/srv/kelisim/media", "unknown scheme"),
    ("ftp://k:s@h:21/bucket", "unknown scheme 'ftp'"),
    ("minio://k:s@h:9000/bucket", "unknown scheme 'minio'"),
    ("file://srv/kelisim/media", "names a host ('srv')"),
    ("file:relative/path", "needs an absolute path"),
    ("file://", "needs an absolute path"),
    ("file:///srv/../etc", "must not contain '..'"),
    ("file:///srv/x?mode=1", "takes no query"),
    ("s3://h:9000/bucket", "has no credentials"),
    (f"s3://key:{SECRET}@h:9000/bucket", "percent-encode them"),
    ("s3://:secret@h:9000/bucket", "has no access key"),
    ("s3://key@h:9000/bucket", "has no secret key"),
    ("s3://key:@h:9000/bucket", "has no secret key"),
    ("s3://key:secret@:9000/bucket", "has no host"),
    ("s3://key:secret@h/bucket", "has no port"),
    ("s3://key:secret@h:notaport/bucket", "has a bad port"),
    ("s3://key:secret@h:70000/bucket", "has a bad port"),
    ("s3://key:secret@h:0/bucket", "has a bad port 0"),
    ("s3://key:secret@h:9000", "has no bucket"),
    ("s3://key:secret@h:9000/", "has no bucket"),
    ("s3://key:secret@h:9000/bucket/sub", "just the bucket name"),
    ("s3://key:secret@h:9000/Bad_Bucket", "not a valid bucket name"),
    ("s3://key:secret@h:9000/ab", "not a valid bucket name"),
    ("s3://key:secret@h:9000/bucket?secure=yes", "secure must be 0 or 1"),
    ("s3://key:secret@h:9000/bucket?secure=0&secure=1", "given 2 times"),
    ("s3://key:secret@h:9000/bucket?region=EU%20West", "is not a region name"),
    ("s3://key:secret@h:9000/bucket?acl=public-read", "unknown parameter(s) acl"),
    ("s3://key:secret@h:9000/bucket#frag", "takes no fragment"),
]


@pytest.mark.parametrize("url, problem", BAD, ids=[f"{i}-{p}" for i, (_, p) in enumerate(BAD)])
def test_a_malformed_url_names_the_problem_without_the_secret(url, problem):
    with pytest.raises(ImproperlyConfigured) as info:
        parse_storage_url(url)
    message = str(info.value)
    assert message.startswith("STORAGE_URL: ") and problem in message
    for secret in ("secret", SECRET, "Secr3t", "Sup3r"):
        if secret in url and not url.startswith(("file", "ftp://k:s")):
            assert secret not in message.replace("no secret key", ""), message


def _settings_in_a_subprocess(env: dict) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(settings.STORAGES['default'])"
    full = {k: v for k, v in os.environ.items() if k not in ("STORAGE_URL", "MEDIA_ROOT")}
    full.update(env, DJANGO_SETTINGS_MODULE="settings.settings")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=60)


def test_settings_default_to_the_media_root_and_refuse_a_bad_storage_url(tmp_path):
    media = tmp_path / "media dir"
    default = _settings_in_a_subprocess({"MEDIA_ROOT": str(media)})
    assert default.returncode == 0, default.stderr
    assert f"'location': '{media}'" in default.stdout and FILE_BACKEND in default.stdout
    s3 = _settings_in_a_subprocess({"STORAGE_URL": "s3://k:s@127.0.0.1:9000/kelisim?secure=0"})
    assert s3.returncode == 0 and S3_BACKEND in s3.stdout
    bad = _settings_in_a_subprocess({"STORAGE_URL": f"s3://key:{SECRET.replace('/', '%2F')}@minio/kelisim"})
    assert bad.returncode != 0
    assert "ImproperlyConfigured: STORAGE_URL: s3://key:***@minio/kelisim has no port" in bad.stderr
    assert "Secr3t" not in bad.stderr
