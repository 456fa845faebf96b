"""Production settings (settings/production.py) and Kelisim's deployment checks
(operations/checks.py, operations/startup.py): ``check --deploy`` passes with a production
environment and fails clearly without a secret key; an unreachable database, broker or storage
and an inconsistent round are errors naming host and port, never a password."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from operations import probes
from operations.checks import check_rounds_for_deployment, check_services
from operations.startup import enabled, run_startup_checks
from settings import production
from settings.storage_url import parse_storage_url

ROOT = Path(__file__).resolve().parents[2]
PG_HOST, PG_PORT = "127.0.0.1", 5432
STRONG_KEY = "k" * 10 + "Zx8vQm3LpR7tK2wN9yB4cF6hJ1dG5sA0eU3iO8pX7zV2nM4qW6rT9y"


def reachable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(tmp_path, **changes) -> dict[str, str]:
    """A complete production environment on this machine's services; ``None`` removes a variable."""
    (tmp_path / "media").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "STORAGE_URL", "DEBUG", "KELISIM_ENV"}}
    env.update({
        "KELISIM_ENV": "production",
        "SECRET_KEY": STRONG_KEY,
        "ALLOWED_HOSTS": "kelisim.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://kelisim.example.org",
        "DATABASE_URL": f"postgres://postgres@{PG_HOST}:{PG_PORT}/postgres",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
        "STORAGE_URL": (tmp_path / "media").as_uri(),
        "STATIC_ROOT": str(tmp_path / "static"),
        "EMAIL_URL": "submission://kelisim:pw@smtp.example.org:587",
        "DEFAULT_FROM_EMAIL": "kelisim@example.org",
        "KELISIM_VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "ERROR",
    })
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(env, *args, timeout=120):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def services():
    """Skip unless this machine's PostgreSQL and Redis answer (.ci/run starts both)."""
    if not reachable(PG_HOST, PG_PORT):
        pytest.skip(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}")
    if not reachable("127.0.0.1", 6379):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")


# -- check --deploy as a subprocess --------------------------------------------------------------

def test_check_deploy_passes_with_a_production_environment(services, tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_passes_with_s3_storage_on_an_s3_server(services, tmp_path, moto_server):
    moto_server.client().create_bucket(Bucket="kelisim-deploy")
    url = f"s3://key:secret@127.0.0.1:{moto_server.port}/kelisim-deploy?secure=0"
    result = manage(production_env(tmp_path, STORAGE_URL=url), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


def test_without_secret_key_production_does_not_start(tmp_path):
    result = manage(production_env(tmp_path, SECRET_KEY=None), "check", "--deploy")
    assert result.returncode != 0
    assert "ImproperlyConfigured: KELISIM_ENV=production: SECRET_KEY is not set" in result.stderr


def test_the_embedded_key_and_debug_are_refused(tmp_path):
    result = manage(production_env(tmp_path, SECRET_KEY=production.EMBEDDED_SECRET_KEY, DEBUG="1"), "check")
    assert result.returncode != 0
    assert "SECRET_KEY is the embedded mode's published key; DEBUG is on" in result.stderr
    assert production.EMBEDDED_SECRET_KEY not in result.stderr.split("ImproperlyConfigured:")[-1]


def test_unreachable_services_fail_check_deploy_with_host_and_port_and_no_password(tmp_path):
    db_port, broker_port, s3_port = closed_port(), closed_port(), closed_port()
    env = production_env(tmp_path,
                         DATABASE_URL=f"postgres://kelisim:dbsecret1@127.0.0.1:{db_port}/kelisim",
                         CELERY_BROKER_URL=f"redis://:brokersecret1@127.0.0.1:{broker_port}/0",
                         STORAGE_URL=f"s3://access1:storagesecret1@127.0.0.1:{s3_port}/kelisim?secure=0")
    result = manage(env, "check", "--deploy", "--tag", "kelisim_deploy")
    assert result.returncode == 1
    out = result.stderr
    assert f"(kelisim.E101) the database cannot be reached at 127.0.0.1:{db_port}/kelisim" in out
    assert f"(kelisim.E102) the broker cannot be reached at redis://127.0.0.1:{broker_port}" in out
    assert f"(kelisim.E103) the storage cannot be reached at http://127.0.0.1:{s3_port}/kelisim" in out
    assert out.count("HINT:") == 3
    for secret in ("dbsecret1", "brokersecret1", "storagesecret1"):
        assert secret not in out + result.stdout


def test_wsgi_refuses_to_start_when_a_service_is_unreachable(tmp_path):
    port = closed_port()
    env = production_env(tmp_path, KELISIM_ENV=None, DATABASE_URL=None, STORAGE_URL=None,
                         CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0", KELISIM_STARTUP_CHECKS="1")
    result = subprocess.run([sys.executable, "-c", "import settings.wsgi"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert f"Kelisim web not started: kelisim.E102: the broker cannot be reached at redis://127.0.0.1:{port}" \
        in result.stderr


def test_a_celery_worker_refuses_to_start_when_storage_is_unreachable(tmp_path):
    if not reachable("127.0.0.1", 6379):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    env = production_env(tmp_path, KELISIM_ENV=None, DATABASE_URL=None, KELISIM_STARTUP_CHECKS="1",
                         STORAGE_URL=(tmp_path / "missing").as_uri())
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "settings", "worker", "--pool", "solo",
                             "-l", "error"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Kelisim worker not started: kelisim.E103: the storage cannot be reached at" in result.stderr


# -- the environment rules -------------------------------------------------------------------------

def test_every_problem_is_named_at_once():
    with pytest.raises(ImproperlyConfigured) as caught:
        production.check_environment({"SECRET_KEY": "short", "DATABASE_URL": "sqlite:////tmp/x.sqlite3",
                                      "CELERY_BROKER_URL": "memory://", "DEBUG": "true"})
    text = str(caught.value)
    for part in ("ALLOWED_HOSTS is not set", "STORAGE_URL is not set", "DEFAULT_FROM_EMAIL is not set",
                 "SECRET_KEY is too weak", "DEBUG is on", "DATABASE_URL is SQLite",
                 "CELERY_BROKER_URL is memory://", "neither EMAIL_URL nor EMAIL_HOST is set"):
        assert part in text
    assert "short" not in text.replace("KELISIM_ENV", "")


@pytest.mark.parametrize(("value", "expected"), [("X-Forwarded-Proto", ("HTTP_X_FORWARDED_PROTO", "https")),
                                                 ("X-Forwarded-Ssl:on", ("HTTP_X_FORWARDED_SSL", "on")),
                                                 ("", None)])
def test_proxy_ssl_header(value, expected):
    assert production.proxy_ssl_header(value) == expected


def test_bad_flags_and_numbers_are_refused():
    with pytest.raises(ImproperlyConfigured, match="SECURE_SSL_REDIRECT must be 1 or 0"):
        production.flag({"SECURE_SSL_REDIRECT": "yess"}, "SECURE_SSL_REDIRECT", True)
    with pytest.raises(ImproperlyConfigured, match="SECURE_HSTS_SECONDS must be a whole number"):
        production.integer({"SECURE_HSTS_SECONDS": "1y"}, "SECURE_HSTS_SECONDS", 0)
    with pytest.raises(ImproperlyConfigured, match="must be a header name"):
        production.proxy_ssl_header("X Forwarded Proto")


def test_email_from_a_url_or_from_host_variables():
    assert production.email_settings({}) == {}
    ssl = production.email_settings({"EMAIL_URL": "smtp://u%40x.org:p@mail.x.org:465?ssl=1"})
    assert (ssl["EMAIL_HOST_USER"], ssl["EMAIL_PORT"], ssl["EMAIL_USE_SSL"], ssl["EMAIL_USE_TLS"]) == \
        ("u@x.org", 465, True, False)
    plain = production.email_settings({"EMAIL_HOST": "mail.x.org", "EMAIL_PORT": "587", "EMAIL_USE_TLS": "1"})
    assert plain["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
    assert (plain["EMAIL_HOST"], plain["EMAIL_PORT"], plain["EMAIL_USE_TLS"]) == ("mail.x.org", 587, True)
    with pytest.raises(ImproperlyConfigured, match="unknown scheme 'smpt'"):
        production.email_settings({"EMAIL_URL": "smpt://mail.x.org"})
    with pytest.raises(ImproperlyConfigured, match="exclusive"):
        production.email_settings({"EMAIL_HOST": "m", "EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"})


def test_production_settings_are_strict(tmp_path):
    code = ("from django.conf import settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
            "s.SECURE_PROXY_SSL_HEADER, s.STORAGES['staticfiles']['BACKEND'], s.EMAIL_HOST, s.LOG_FORMAT, "
            "s.CSRF_TRUSTED_ORIGINS)")
    env = production_env(tmp_path, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto", DJANGO_SETTINGS_MODULE="settings.settings")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "True", "31536000", "True", "True",
                                     "('HTTP_X_FORWARDED_PROTO',", "'https')", "settings.staticfiles.StaticFilesStorage",
                                     "smtp.example.org", "json", "['https://kelisim.example.org']"]


# -- the probes and checks in this process ---------------------------------------------------------

@pytest.mark.django_db
def test_the_probes_pass_here():
    results = probes.probe_all()
    assert [(p.name, p.ok) for p in results] == [("database", True), ("broker", True), ("storage", True)]
    assert check_services() == []


def test_an_unreachable_broker_is_an_error_naming_host_and_port(settings):
    port = closed_port()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://:topsecret9@127.0.0.1:{port}/0"
    result = probes.probe_broker()
    assert not result.ok and result.target == f"redis://127.0.0.1:{port}"
    assert "topsecret9" not in result.error
    [error] = [e for e in check_services() if e.id == "kelisim.E102"]
    assert isinstance(error, checks.Error) and f"127.0.0.1:{port}" in error.hint


@pytest.mark.django_db
def test_a_reachable_broker_passes(settings):
    if not reachable("127.0.0.1", 6379):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/15"
    assert probes.probe_broker().ok


def test_a_missing_storage_directory_is_an_error(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": parse_storage_url((tmp_path / "gone").as_uri())}
    result = probes.probe_storage()
    assert not result.ok and result.target == str(tmp_path / "gone")
    assert [e.id for e in check_services() if e.id == "kelisim.E103"] == ["kelisim.E103"]


def test_s3_storage_probe_on_a_server_with_and_without_the_bucket(settings, moto_server):
    moto_server.client().create_bucket(Bucket="kelisim-probe")
    for bucket, ok in (("kelisim-probe", True), ("no-such-bucket", False)):
        url = f"s3://key:secret9key@127.0.0.1:{moto_server.port}/{bucket}?secure=0"
        settings.STORAGES = {**settings.STORAGES, "default": parse_storage_url(url)}
        result = probes.probe_storage()
        assert result.ok is ok, result.error
        assert "secret9key" not in result.error


def test_an_unreachable_s3_server_is_an_error(settings):
    port = closed_port()
    settings.STORAGES = {**settings.STORAGES,
                         "default": parse_storage_url(f"s3://key:secret@127.0.0.1:{port}/kelisim?secure=0")}
    result = probes.probe_storage()
    assert not result.ok and result.target == f"http://127.0.0.1:{port}/kelisim"


@pytest.mark.django_db
def test_an_inconsistent_round_is_a_deployment_error(sample_round):
    from processes.rounds.models import Criterion

    assert check_rounds_for_deployment() == []
    Criterion.objects.filter(round=sample_round, code="C1").update(weight=30)
    [error] = check_rounds_for_deployment()
    assert isinstance(error, checks.Error) and error.id == "kelisim.E104" and "sum to 110" in error.msg


def test_startup_checks_are_for_production_only(settings, monkeypatch):
    monkeypatch.delenv("KELISIM_STARTUP_CHECKS", raising=False)
    settings.PRODUCTION = False
    assert not enabled()
    settings.PRODUCTION = True
    assert enabled()
    monkeypatch.setenv("KELISIM_STARTUP_CHECKS", "0")
    assert not enabled()


@pytest.mark.django_db
def test_startup_checks_raise_with_every_error(settings, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.STORAGES = {**settings.STORAGES, "default": parse_storage_url((tmp_path / "gone").as_uri())}
    with pytest.raises(ImproperlyConfigured, match="Kelisim worker not started: kelisim.E102: ") as caught:
        run_startup_checks("worker")
    assert "kelisim.E103" in str(caught.value) and "kelisim.E101" not in str(caught.value)
