"""deploy/compose.yaml, deploy/Dockerfile and deploy/.env.example agree with the code.

No container engine runs here, so the compose file is checked by reading it: every Kelisim
service's command exists (management commands, the Celery app, gunicorn's config and WSGI
module), every variable a service sets is read by Kelisim, every ``${VAR}`` it references is in
``.env.example``, the production settings accept what the files provide, the services depend
on existing services, one beat, healthchecks where they matter, and the image's base and
Debian packages are the ones the tests need (those ``.ci/run`` installs).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import secrets
import shlex
from pathlib import Path

import pytest
import yaml

from settings import production

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict = COMPOSE["services"]
KELISIM_SERVICES = {name for name, svc in SERVICES.items() if svc.get("image") == "kelisim:latest"}
REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(:?[-?][^}]*)?\}")
#: Modules whose environment variables count as "read by Kelisim".
CODE = [*sorted((ROOT / "settings").glob("*.py")), *sorted((ROOT / "operations").glob("*.py"))]


def env_example() -> dict[str, str]:
    """``NAME=value`` lines of deploy/.env.example."""
    pairs = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            pairs[name.strip()] = value.strip()
    return pairs


def _string(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def read_variables(paths=CODE) -> set[str]:
    """Names of the environment variables the modules ``paths`` read: ``os.environ.get("X")``,
    ``os.environ["X"]``, ``"X" in os.environ``, ``os.getenv("X")``, ``setdefault("X", ...)`` and
    the helpers ``env_bool``, ``env_list``, ``production.flag``, ``production.integer``."""
    names = set()
    helpers = {"get", "getenv", "setdefault", "env_bool", "env_list", "flag", "integer"}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in helpers:
                    names.update(s for s in map(_string, node.args[:2]) if s and s.isupper())
            elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
                if (s := _string(node.slice)) and s.isupper():
                    names.add(s)
            elif isinstance(node, ast.Compare) and any("environ" in ast.unparse(c) for c in node.comparators):
                if (s := _string(node.left)) and s.isupper():
                    names.add(s)
    return names


READ = read_variables()


def test_the_variable_finder_finds_what_the_settings_read():
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "STORAGE_URL", "ALLOWED_HOSTS", "DEBUG",
            "SECURE_HSTS_SECONDS", "LOG_FORMAT", "KELISIM_METRICS_TOKEN", "GUNICORN_WORKERS",
            "PROMETHEUS_MULTIPROC_DIR", "EMAIL_URL", "KELISIM_ENV"} <= READ
    assert "NOT_A_VARIABLE" not in READ


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` with ``env``."""
    def one(match):
        name, rest = match.group(1), match.group(2) or ""
        if env.get(name):
            return env[name]
        if rest.startswith((":-", "-")):
            return rest.split("-", 1)[1]
        raise AssertionError(f"${{{name}}} is not set")
    return REFERENCE.sub(one, value)


def service_environment(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES[name].get("environment") or {}).items()}


# -- services and commands -------------------------------------------------------------------------

def test_the_stack_has_its_services():
    assert {"db", "redis", "minio", "minio-init", "migrate", "web", "worker", "beat"} <= set(SERVICES)
    assert KELISIM_SERVICES == {"migrate", "web", "worker", "beat"}
    assert SERVICES["db"]["image"] == "postgres:15" and SERVICES["redis"]["image"] == "redis:7"
    assert SERVICES["minio"]["image"].startswith("minio/minio") and SERVICES["minio-init"]["image"].startswith("minio/mc")


def commands(name: str) -> list[list[str]]:
    """The argv of each command a service runs (``sh -c "a && b"`` gives two)."""
    command = SERVICES[name]["command"]
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&")]
    return [argv]


def check_command(argv: list[str]):
    """Assert that a Kelisim command line names things that exist."""
    from django.core.management import get_commands
    from django.utils.module_loading import import_string

    program = argv[0]
    if program == "python":
        if argv[1] == "manage.py":
            assert argv[2] in get_commands(), f"no management command {argv[2]!r}"
        else:
            assert argv[1] == "-m" and importlib.util.find_spec(argv[2]), argv
    elif program == "gunicorn":
        config = argv[argv.index("-c") + 1]
        assert config.startswith("python:"), config
        module = importlib.import_module(config.removeprefix("python:"))
        assert module.bind and module.workers >= 1
        app_module, _, attr = argv[-1].partition(":")
        assert callable(getattr(importlib.import_module(app_module), attr))
    elif program == "celery":
        assert argv[1:3] == ["-A", "settings"]
        from celery import Celery

        assert isinstance(importlib.import_module("settings").celery_app, Celery)
        assert argv[3] in {"worker", "beat", "inspect"}
        if "-S" in argv:
            import_string(argv[argv.index("-S") + 1].replace(":", "."))
    else:
        raise AssertionError(f"unknown program {program!r} in {argv}")


@pytest.mark.parametrize("name", sorted(KELISIM_SERVICES))
def test_every_kelisim_command_exists(name):
    for argv in commands(name):
        check_command(argv)
    health = (SERVICES[name].get("healthcheck") or {}).get("test")
    if health:
        argv = health[1:] if health[0] == "CMD" else shlex.split(health[1])
        check_command([a for a in argv if "$" not in a])


def test_the_commands_are_the_documented_ones():
    assert commands("migrate") == [["python", "manage.py", "migrate", "--noinput"],
                                   ["python", "manage.py", "install_schedules"]]
    assert commands("web")[0][-1] == "settings.wsgi:application"
    assert commands("worker")[0][:4] == ["celery", "-A", "settings", "worker"]
    assert commands("beat")[0] == ["celery", "-A", "settings", "beat", "-l", "info", "-S",
                                   "django_celery_beat.schedulers:DatabaseScheduler"]


def test_a_wrong_command_is_caught():
    for argv in (["python", "manage.py", "migrat"], ["celery", "-A", "settings", "wrker"],
                 ["gunicorn", "-c", "python:settings.gunicorn", "settings.wsgi:app"]):
        with pytest.raises((AssertionError, AttributeError)):
            check_command(argv)


def test_exactly_one_beat():
    beats = [name for name in SERVICES if SERVICES[name].get("command")
             and any(argv[:1] == ["celery"] and "beat" in argv for argv in commands(name))]
    assert beats == ["beat"]
    assert SERVICES["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_dependencies_exist_and_kelisim_waits_for_migrate():
    for name, svc in SERVICES.items():
        for dependency, condition in (svc.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"
            assert condition["condition"] in {"service_healthy", "service_completed_successfully",
                                              "service_started"}
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    migrate = SERVICES["migrate"]["depends_on"]
    assert migrate["db"]["condition"] == migrate["redis"]["condition"] == "service_healthy"
    assert migrate["minio-init"]["condition"] == "service_completed_successfully"
    for dependency, condition in migrate.items():
        if condition["condition"] == "service_healthy":
            assert "healthcheck" in SERVICES[dependency]


def test_no_dependency_cycle():
    seen, done = set(), set()

    def visit(name):
        assert name not in seen - done, f"dependency cycle through {name}"
        if name in done:
            return
        seen.add(name)
        for dependency in SERVICES[name].get("depends_on") or {}:
            visit(dependency)
        done.add(name)
    for name in SERVICES:
        visit(name)


@pytest.mark.parametrize("name", ["db", "redis", "minio", "web", "worker"])
def test_healthchecks(name):
    health = SERVICES[name]["healthcheck"]
    assert not health.get("disable") and health["test"]
    if name == "web":
        assert "/ready/" in health["test"]


def test_volumes_are_declared():
    declared = set(COMPOSE["volumes"])
    used = {v.split(":")[0] for svc in SERVICES.values() for v in svc.get("volumes", []) if not v.startswith((".", "/"))}
    assert used == declared == {"pgdata", "redisdata", "miniodata"}


# -- variables -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(KELISIM_SERVICES))
def test_every_variable_a_kelisim_service_sets_is_read_by_kelisim(name):
    unknown = set(service_environment(name)) - READ
    assert unknown == set(), f"{name} sets variables nothing reads: {sorted(unknown)}"


def test_every_referenced_variable_is_in_env_example():
    text = (DEPLOY / "compose.yaml").read_text()
    referenced = {m.group(1) for m in REFERENCE.finditer(text) if not (m.group(2) or "").startswith((":-", "-"))}
    assert referenced - set(env_example()) == set()


def test_every_env_example_variable_is_used():
    compose_text = (DEPLOY / "compose.yaml").read_text()
    referenced = {m.group(1) for m in REFERENCE.finditer(compose_text)}
    unused = set(env_example()) - READ - referenced
    assert unused == set(), f".env.example has variables nothing reads: {sorted(unused)}"


def production_environment(name: str = "web") -> dict[str, str]:
    """What a Kelisim container would see: .env.example (placeholders replaced by random values)
    plus the service's environment, interpolated."""
    env = {k: v.replace(production.PLACEHOLDER, secrets.token_hex(32)) for k, v in env_example().items()}
    env.update({k: interpolate(v, env) for k, v in service_environment(name).items()})
    return env


def test_every_required_production_variable_is_provided():
    env = production_environment()
    assert set(production.REQUIRED) <= set(env)
    assert env["KELISIM_ENV"] == "production"
    production.check_environment(env)  # raises if anything is missing or weak


def test_the_example_as_it_is_does_not_start():
    env = {**env_example(), **{k: interpolate(v, env_example()) for k, v in service_environment("web").items()}}
    with pytest.raises(Exception, match="SECRET_KEY is too weak") as caught:
        production.check_environment(env)
    assert "placeholder 'change-me'" in str(caught.value)
    assert "KELISIM_METRICS_TOKEN" in str(caught.value)


def test_the_storage_and_email_urls_parse():
    from settings.storage_url import parse_storage_url

    env = production_environment()
    options = parse_storage_url(env["STORAGE_URL"])["OPTIONS"]
    assert options["endpoint_url"] == "http://minio:9000" and options["bucket_name"] == env["S3_BUCKET"]
    email = production.email_settings(env)
    assert (email["EMAIL_HOST"], email["EMAIL_PORT"], email["EMAIL_USE_TLS"]) == ("smtp.example.org", 587, True)
    assert email["EMAIL_HOST_USER"] == "kelisim@example.org"


SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN")


def looks_like_a_secret(name: str, value: str) -> bool:
    """A value that may be a real secret: under a secret-like name and not the placeholder; a URL
    with a password other than the placeholder; or a long random-looking string."""
    if production.PLACEHOLDER in value:
        value = value.replace(production.PLACEHOLDER, "")
        if SECRET_NAME.search(name):
            return False
    elif SECRET_NAME.search(name) and value:
        return True
    url_password = re.search(r"://[^:/@]+:([^@]+)@", value)
    if url_password:
        return True
    return bool(re.fullmatch(r"[A-Za-z0-9+/=_-]{24,}", value))


def test_env_example_holds_no_real_secret():
    offenders = [name for name, value in env_example().items() if looks_like_a_secret(name, value)]
    assert offenders == []


def test_the_secret_detector_detects():
    assert looks_like_a_secret("SECRET_KEY", "x8Jd93kdLq0")
    assert looks_like_a_secret("EMAIL_URL", "smtp://user:hunter2hunter2@smtp.example.org:587")
    assert looks_like_a_secret("S3_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLEKEYXYZ0")
    assert not looks_like_a_secret("SECRET_KEY", "change-me")
    assert not looks_like_a_secret("ALLOWED_HOSTS", "kelisim.example.org")


# -- the image -------------------------------------------------------------------------------------

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def ci_packages() -> set[str]:
    """The Debian packages .ci/run installs for the tests (the browser is for browser tests only)."""
    found = set(re.findall(r"pkgs\+=\(([a-z0-9.+-]+)\)", (ROOT / ".ci" / "run").read_text()))
    assert {"libreoffice-writer-nogui", "gettext", "graphviz"} <= found
    return found - {"chromium"}


def test_the_image_is_python_3_11_bookworm_with_the_packages_the_tests_need():
    assert re.search(r"^FROM python:3\.11-slim-bookworm$", DOCKERFILE, re.M)
    install = re.search(r"apt-get install[^&]*", DOCKERFILE).group(0)
    installed = set(install.replace("\\", " ").split())
    assert ci_packages() | {"fonts-liberation2", "fonts-dejavu-core", "poppler-utils"} <= installed


def test_the_image_runs_unprivileged_with_translations_static_files_and_a_healthcheck():
    assert re.search(r"^USER kelisim$", DOCKERFILE, re.M)
    assert "pip install -c requirements/constraints.txt ." in DOCKERFILE
    assert "manage.py compilemessages" in DOCKERFILE and "manage.py collectstatic" in DOCKERFILE
    assert re.search(r"^HEALTHCHECK .*\n?.*operations\.healthcheck.*/ready/", DOCKERFILE, re.M)
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1)
    assert yaml.safe_load(cmd) == SERVICES["web"]["command"]


def test_the_build_time_environment_satisfies_the_production_settings():
    """collectstatic runs with production settings at build time: its throwaway values pass."""
    line = re.search(r"KELISIM_ENV=production(.*?)python manage.py collectstatic", DOCKERFILE, re.S).group(0)
    env = dict(re.findall(r"([A-Z_]+)=(\S+)", line))
    production.check_environment(env)


def test_gunicorn_is_pinned():
    assert 'gunicorn==27.0.1' in (ROOT / "pyproject.toml").read_text()
    assert "gunicorn==27.0.1" in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
