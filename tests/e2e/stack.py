"""Kelisim's production stack as real processes on this machine (issue 7): ``ProcessStack``.

What ``start()`` runs (every process in its own process group, its output in ``workdir``):

* a fresh PostgreSQL database on the machine's server (``kelisim_e2e_<hex>`` unless named),
  migrated with ``manage.py migrate`` in production mode, then ``collectstatic`` (WhiteNoise's
  manifest) and ``install_schedules`` (the beat rows), as deploy/compose.yaml's ``migrate`` job;
* moto's S3 server (``python -m moto.server``) standing in for MinIO, with the bucket
  ``kelisim``; the Kelisim processes reach it through a TCP proxy (``tcpproxy.py``) so that
  ``stop_s3()``/``start_s3()`` can cut and restore S3 without losing the bucket;
* an SMTP sink (aiosmtpd, ``smtpsink.py``) whose received messages ``sent_mail()`` returns;
* gunicorn (``settings.gunicorn``) with ``KELISIM_ENV=production``: a random ``SECRET_KEY``
  from ``os.urandom``, ``ALLOWED_HOSTS``, ``STORAGE_URL=s3://...``, ``EMAIL_URL=smtp://...``,
  ``CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>``, HTTPS behind a proxy
  (``SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto``: the sessions of ``session()`` send
  ``X-Forwarded-Proto: https`` as a TLS-terminating proxy would);
* a Celery worker (``celery -A settings worker``) and Celery beat with django-celery-beat's
  ``DatabaseScheduler`` (``--max-interval 1``, so an edited schedule is picked up in a second).

``start()`` returns when ``/ready/`` answers 200 (database, broker and storage probed), the
worker has logged that it is ready and beat has made its first schedule check.

The Redis database number (1..14) is claimed with an exclusive ``flock`` on
``/tmp/kelisim-e2e-redis-<n>.lock`` for the stack's lifetime and flushed at start and stop,
so two stacks on one machine (the e2e test and the load test, say) never take each other's
tasks; ``tests/brokers`` uses database 15 and is never touched.

Start-up cost (``KELISIM_E2E_CACHE``, default 1; 0 turns both caches off): the migrated
schema is kept as a PostgreSQL template database ``kelisim_e2e_tpl_<hash of the migration
files>`` (built once with ``migrate``, under a ``flock``), and each stack's database is created
from it (``CREATE DATABASE ... TEMPLATE``, well under a second) before ``migrate`` runs on it
(then a check that nothing is unapplied); the collected static files are kept in
``var/e2e-cache/static-<hash of the pinned packages>``, as an image build keeps them
(deploy/Dockerfile). On a busy two-core machine this takes start-up from about 30 s to 10 s.

Requirements: PostgreSQL (``KELISIM_E2E_POSTGRES_URL``, else ``DATABASE_URL`` when it is
PostgreSQL, else ``postgres://postgres@127.0.0.1:5432/postgres``: a user allowed to create
databases) and Redis on 127.0.0.1:6379 (``KELISIM_E2E_REDIS``: ``host:port``). Used by
``tests/e2e/test_stack.py`` and by the load test in ``bench/``; docs/operations.md.

Errors: :class:`StackError` (a process that exits or does not become ready in time; the
message holds the tails of the logs). ``stop()`` always stops every process, drops the
database and releases the Redis database, also after a failed start.
"""

from __future__ import annotations

import email
import email.policy
import fcntl
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BUCKET = "kelisim"
S3_ACCESS_KEY = "kelisim-e2e"
S3_SECRET_KEY = "kelisim-e2e-secret"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
#: Redis databases a stack may claim (15 belongs to tests/brokers).
REDIS_DATABASES = range(1, 15)
#: Seconds a process may take to become ready (gunicorn, worker, beat, migrate on a busy machine).
READY_TIMEOUT = float(os.environ.get("KELISIM_E2E_READY_TIMEOUT", "90"))
#: Variables of the caller that must not leak into the stack's processes.
_DROPPED = ("DATABASE_URL", "TEST_DATABASE_NAME", "STORAGE_URL", "MEDIA_ROOT", "KELISIM_ENV", "DEBUG",
            "EMAIL_", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SECURE_", "GUNICORN_",
            "PROMETHEUS_MULTIPROC_DIR", "KELISIM_VAR_DIR", "STATIC_ROOT", "LOG_", "DJANGO_SETTINGS_MODULE",
            "PYTEST_", "KELISIM_TEST_", "KELISIM_WORKER_METRICS_PORT", "KELISIM_METRICS_TOKEN")


class StackError(RuntimeError):
    """A process of the stack failed or did not become ready; the message has the log tails."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def postgres_admin_url() -> str:
    """The PostgreSQL server URL the stack creates its database on (see the module docstring)."""
    explicit = os.environ.get("KELISIM_E2E_POSTGRES_URL", "").strip()
    if explicit:
        return explicit
    current = os.environ.get("DATABASE_URL", "").strip()
    if current.startswith(("postgres://", "postgresql://")):
        return current
    return DEFAULT_POSTGRES_URL


def redis_address() -> tuple[str, int]:
    host, _, port = os.environ.get("KELISIM_E2E_REDIS", "127.0.0.1:6379").rpartition(":")
    return host or "127.0.0.1", int(port)


def caching() -> bool:
    """Whether the template database and the static files cache are used (``KELISIM_E2E_CACHE``)."""
    return os.environ.get("KELISIM_E2E_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def _repo_files(wanted) -> list[Path]:
    """Files of the repository (not .venv, var, .git, tests, bench) for which ``wanted(path)``."""
    found = []
    for top, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in {".venv", "var", ".git", "tests", "bench", "__pycache__",
                                                      "node_modules", ".pytest_cache"})
        found.extend(Path(top, name) for name in sorted(files) if wanted(Path(top, name)))
    return found


def migrations_key() -> str:
    """A short hash of every migration file of the repository (path and content) and the
    pinned packages (their migrations)."""
    digest = hashlib.sha256((REPO / "requirements" / "constraints.txt").read_bytes())
    for path in _repo_files(lambda p: p.parent.name == "migrations" and p.suffix == ".py"):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def static_key() -> str:
    """A short hash of what ``collectstatic`` collects from: the pinned packages and the settings
    of the static storage (no app of the repository has a static directory of its own, but any
    file under a ``static`` directory of the repository is included)."""
    digest = hashlib.sha256((REPO / "requirements" / "constraints.txt").read_bytes())
    digest.update((REPO / "settings" / "staticfiles.py").read_bytes())
    for path in _repo_files(lambda p: "static" in p.relative_to(REPO).parts[:-1]):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


class Process:
    """One child process in its own process group, output appended to ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Process:
        with open(self.log, "ab") as out:
            out.write(f"\n=== {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.argv, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            try:
                os.killpg(self.proc.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash: no shutdown, no acknowledgement)."""
        if self.proc is None:
            return
        self.signal(signal.SIGKILL)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # children left after the leader died
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(timeout=15)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` seconds."""
        if self.proc is None:
            return
        if self.running():
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])


def _session_class():
    import requests

    class Session(requests.Session):
        """A ``requests.Session`` that talks to the stack as a browser behind the TLS proxy.

        Relative URLs (``"/inbox/"``) are joined to ``base_url``; every request carries
        ``X-Forwarded-Proto: https`` and an ``Origin``/``Referer`` of ``https://host`` (Django's
        CSRF origin check for HTTPS); unsafe methods carry the CSRF cookie in ``X-CSRFToken``.
        The secure cookies (session, CSRF) are kept sendable over the plain-HTTP hop.
        """

        def __init__(self, base_url: str):
            super().__init__()
            self.base_url = base_url
            host = urlsplit(base_url).netloc
            self.headers.update({"X-Forwarded-Proto": "https", "Origin": f"https://{host}",
                                 "Referer": f"https://{host}/", "Accept-Language": "en"})

        def request(self, method, url, *args, **kwargs):
            if url.startswith("/"):
                url = self.base_url + url
            if method.upper() not in ("GET", "HEAD", "OPTIONS", "TRACE"):
                token = self.cookies.get("csrftoken")
                if token:
                    headers = dict(kwargs.pop("headers", None) or {})
                    headers.setdefault("X-CSRFToken", token)
                    kwargs["headers"] = headers
            kwargs.setdefault("timeout", 60)
            response = super().request(method, url, *args, **kwargs)
            for cookie in self.cookies:
                cookie.secure = False  # the proxy's client saw HTTPS; this hop is plain HTTP
            return response

    return Session


class ProcessStack:
    """The production stack as processes; see the module docstring.

    ``ProcessStack(workdir, web_workers=2, web_threads=4, beat=True, database_name=None)``;
    use as a context manager (``with ProcessStack(tmp) as stack: ...``) or call ``start()``
    and ``stop()``. Attributes once started: ``base_url`` (``http://127.0.0.1:PORT``),
    ``env`` (the processes' environment, a dict), ``database_name``, ``bucket``, ``s3_port``
    (moto itself, not the proxy), ``redis_db``, ``workdir``, ``startup_seconds``.
    """

    def __init__(self, workdir: Path, *, web_workers: int = 2, web_threads: int = 4, beat: bool = True,
                 database_name: str | None = None, worker_concurrency: int = 2):
        self.workdir = Path(workdir).resolve()
        self.web_workers, self.web_threads, self.with_beat = web_workers, web_threads, beat
        self.worker_concurrency = worker_concurrency
        self.database_name = database_name or f"kelisim_e2e_{uuid.uuid4().hex[:10]}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", self.database_name):
            raise ValueError(f"database name {self.database_name!r}: lower-case letters, digits and _ only")
        self.bucket = BUCKET
        self.env: dict[str, str] = {}
        self.base_url = ""
        self.web_port = self.s3_port = self.s3_proxy_port = self.smtp_port = 0
        self.redis_db: int | None = None
        self._redis_lock = None
        self._database_created = False
        self._processes: dict[str, Process] = {}
        self._worker_starts = 0
        self._worker_log_start = 0
        self.startup_seconds: float | None = None

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> ProcessStack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> ProcessStack:
        """Start everything (see the module docstring); on any failure stop what started and
        raise :class:`StackError` with the log tails."""
        began = time.monotonic()
        try:
            self._start()
            self.startup_seconds = round(time.monotonic() - began, 1)
        except BaseException as exc:
            tails = self.log_tails()
            self.stop()
            if isinstance(exc, StackError):
                raise StackError(f"{exc}\n{tails}") from None
            raise
        return self

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "mail").mkdir(exist_ok=True)
        self._claim_redis_db()
        self.web_port, self.s3_port, self.s3_proxy_port, self.smtp_port = (free_port() for _ in range(4))
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = self._environment()
        self._create_database(self._template(self.env) if caching() else None)

        base = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
        base["PYTHONUNBUFFERED"] = "1"
        self._spawn("moto", [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.s3_port)], base)
        self._spawn("smtp", [PYTHON, "-m", "tests.e2e.smtpsink", str(self.smtp_port), str(self.workdir / "mail")], base)
        self.start_s3()
        # migrate (a no-op check on a clone of the template), then the beat rows and
        # django-celery-beat's change marker, as deploy/compose.yaml's migrate job does.
        steps = [self._spawn("migrate", ["sh", "-c", f"{PYTHON} manage.py migrate --noinput -v 0 && "
                                                     f"{PYTHON} manage.py install_schedules"])]
        static_root = Path(self.env["STATIC_ROOT"])
        if not (static_root / "staticfiles.json").exists():
            steps.append(self._spawn("collectstatic", [
                "sh", "-c", f"{PYTHON} manage.py collectstatic --noinput -v 0 && "
                            f"{PYTHON} -c 'import os,sys; os.replace(sys.argv[1], sys.argv[2])' "
                            f"{static_root}.tmp-{self.database_name} {static_root} || true; "
                            f"test -f {static_root}/staticfiles.json"],
                {**self.env, "STATIC_ROOT": f"{static_root}.tmp-{self.database_name}"}))
        self._wait_port("moto", self.s3_port)
        self._s3_client().create_bucket(Bucket=self.bucket)
        self._wait_port("smtp", self.smtp_port)
        # On a clone of the template the schema is complete already: the web process and the
        # worker start while migrate checks it (beat waits for the schedule rows).
        early = caching() and len(steps) == 1
        if early:
            self._start_web_and_worker()
        for step in steps:
            self._wait_exit(step)
        shutil.rmtree(f"{static_root}.tmp-{self.database_name}", ignore_errors=True)
        if caching():  # caches of other package sets are of no further use
            for old in static_root.parent.glob("static-*"):
                if old.name != static_root.name and ".tmp-" not in old.name:
                    shutil.rmtree(old, ignore_errors=True)
        if not early:
            self._start_web_and_worker()
        if self.with_beat:
            self._spawn("beat", [PYTHON, "-m", "celery", "-A", "settings", "beat", "-l", "info",
                                 "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1",
                                 "--pidfile", str(self.workdir / "beat.pid"),
                                 "--schedule", str(self.workdir / "celerybeat-schedule")])
        self._wait_ready()
        self._wait_worker()
        if self.with_beat:
            self._wait_beat()

    def _start_web_and_worker(self) -> None:
        web_env = {**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.web_port}",
                   "GUNICORN_WORKERS": str(self.web_workers), "GUNICORN_THREADS": str(self.web_threads)}
        # gunicorn 27's control socket defaults to ~/.gunicorn/gunicorn.ctl, shared by every
        # gunicorn of the user: each stack keeps its own.
        self._spawn("web", [PYTHON, "-m", "gunicorn", "-c", "python:settings.gunicorn",
                            "--control-socket", str(self.workdir / "gunicorn.ctl"), "settings.wsgi:application"],
                    web_env)
        self.start_worker(wait=False)

    def stop(self) -> None:
        """Stop every process (beat first, web last), drop the database, release Redis. Idempotent."""
        for name in ("beat", "worker", "web", "smtp", "s3proxy", "moto", "migrate", "collectstatic"):
            process = self._processes.get(name)
            if process is not None:
                try:
                    process.stop()
                except Exception:  # noqa: BLE001 - keep stopping the others
                    pass
        if self._database_created:
            try:
                self._drop_database()
            finally:
                self._database_created = False
        if self.env.get("STATIC_ROOT"):
            shutil.rmtree(f"{self.env['STATIC_ROOT']}.tmp-{self.database_name}", ignore_errors=True)
        self._release_redis_db()

    # -- services ---------------------------------------------------------------------------------

    def _claim_redis_db(self) -> None:
        if self._redis_lock is not None:
            return
        candidates = list(REDIS_DATABASES)
        random.shuffle(candidates)
        for number in candidates:
            handle = open(f"/tmp/kelisim-e2e-redis-{number}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self._redis_lock, self.redis_db = handle, number
            self._flush_redis()
            return
        raise StackError(f"every Redis database {REDIS_DATABASES.start}..{REDIS_DATABASES.stop - 1} is in use "
                         "by another stack")

    def _flush_redis(self) -> None:
        import redis

        host, port = redis_address()
        try:
            client = redis.Redis(host=host, port=port, db=self.redis_db, socket_connect_timeout=5)
            client.flushdb()
            client.close()
        except redis.RedisError as exc:
            raise StackError(f"Redis at {host}:{port} (database {self.redis_db}): {exc}") from None

    def _release_redis_db(self) -> None:
        if self._redis_lock is None:
            return
        try:
            self._flush_redis()
        except StackError:
            pass
        fcntl.flock(self._redis_lock, fcntl.LOCK_UN)
        self._redis_lock.close()
        self._redis_lock = None

    def _admin(self):
        import psycopg

        return psycopg.connect(postgres_admin_url(), autocommit=True, connect_timeout=10)

    def _create_database(self, template: str | None = None) -> None:
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database_name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        try:
            with self._admin() as conn:
                conn.execute(statement)
        except Exception as exc:  # noqa: BLE001 - psycopg's errors, reported with the server
            raise StackError(f"cannot create database {self.database_name} on "
                             f"{urlsplit(postgres_admin_url()).hostname}: {exc}") from None
        self._database_created = True

    def _template(self, env: dict[str, str]) -> str:
        """The migrated template database of the current migrations, built when missing."""
        from psycopg import sql

        name = f"kelisim_e2e_tpl_{migrations_key()}"
        with open("/tmp/kelisim-e2e-template.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with self._admin() as conn:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                    return name
                building = f"{name}_new"
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(building)))
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building)))
            result = subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO,
                                    env={**env, "DATABASE_URL": _with_database(postgres_admin_url(), building)},
                                    capture_output=True, text=True, timeout=READY_TIMEOUT * 4)
            with self._admin() as conn:
                if result.returncode != 0:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(building)))
                    raise StackError(f"migrate (template database) failed:\n{result.stderr[-4000:]}")
                conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(building),
                                                                               sql.Identifier(name)))
                # Templates of older migrations are of no further use.
                for (old,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'kelisim_e2e_tpl_%%' "
                                           "AND datname <> %s", [name]).fetchall():
                    try:
                        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(old)))
                    except Exception:  # noqa: BLE001 - in use by a stack of other code: leave it
                        pass
        return name

    def _static_root(self) -> Path:
        """``STATIC_ROOT``: the shared cache of the current packages, or the stack's own."""
        if not caching():
            return self.workdir / "static"
        return REPO / "var" / "e2e-cache" / f"static-{static_key()}"

    def _drop_database(self) -> None:
        from psycopg import sql

        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.database_name)))

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
        redis_host, redis_port = redis_address()
        env.update({
            "KELISIM_ENV": "production",
            "DJANGO_SETTINGS_MODULE": "settings.settings",
            "SECRET_KEY": os.urandom(48).hex(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{self.web_port},https://localhost:{self.web_port}",
            "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
            "DATABASE_URL": _with_database(postgres_admin_url(), self.database_name),
            "CELERY_BROKER_URL": f"redis://{redis_host}:{redis_port}/{self.redis_db}",
            "STORAGE_URL": f"s3://{S3_ACCESS_KEY}:{S3_SECRET_KEY}@127.0.0.1:{self.s3_proxy_port}/{self.bucket}"
                           "?secure=0",
            "EMAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "EMAIL_TIMEOUT": "20",
            "DEFAULT_FROM_EMAIL": "kelisim@e2e.example.kz",
            "KELISIM_VAR_DIR": str(self.workdir / "var"),
            "STATIC_ROOT": str(self._static_root()),
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "metrics"),
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        })
        (self.workdir / "metrics").mkdir(exist_ok=True)
        return env

    def _s3_client(self, port: int | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port or self.s3_port}",
                            aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY,
                            region_name="us-east-1", config=Config(retries={"max_attempts": 2}))

    # -- processes --------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        process = Process(name, argv, env or self.env, self.workdir / f"{name}.log")
        self._processes[name] = process.start()
        return process

    def _fail(self, message: str) -> None:
        raise StackError(message)

    def _wait_port(self, name: str, port: int) -> None:
        end = time.monotonic() + READY_TIMEOUT
        process = self._processes[name]
        while time.monotonic() < end:
            if port_open(port):
                return
            if not process.running():
                self._fail(f"{name} exited with {process.proc.returncode} before listening on {port}")
            time.sleep(0.05)
        self._fail(f"{name} did not listen on {port} within {READY_TIMEOUT:.0f} s")

    def _wait_exit(self, process: Process) -> None:
        limit = READY_TIMEOUT * 4  # collectstatic compresses every file: minutes on a loaded machine
        try:
            code = process.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self._fail(f"{process.name} did not finish within {limit:.0f} s")
        if code != 0:
            self._fail(f"{process.name} failed with exit code {code}")

    def _wait_ready(self) -> None:
        import requests

        end, last = time.monotonic() + READY_TIMEOUT, "no answer"
        web = self._processes["web"]
        while time.monotonic() < end:
            if not web.running():
                self._fail(f"gunicorn exited with {web.proc.returncode}")
            try:
                response = requests.get(self.base_url + "/ready/", timeout=10)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(0.2)
        self._fail(f"/ready/ did not answer 200 within {READY_TIMEOUT:.0f} s (last: {last})")

    def _wait_log(self, name: str, pattern: str, *, after: int = 0, count: int = 1) -> None:
        process = self._processes[name]
        end = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < end:
            if len(re.findall(pattern, process.text()[after:])) >= count:
                return
            if not process.running():
                self._fail(f"{name} exited with {process.proc.returncode}")
            time.sleep(0.1)
        self._fail(f"{name} did not log {pattern!r} within {READY_TIMEOUT:.0f} s")

    def _wait_worker(self) -> None:
        self._wait_log("worker", rf"{re.escape(self.worker_node)} ready\.", after=self._worker_log_start)

    def _wait_beat(self) -> None:
        # beat reads the schedule, then checks django-celery-beat's change marker at each tick:
        # the first check only sets the baseline, so wait for ticks after "Starting" before
        # anyone edits a schedule (a change saved before the first check would go unnoticed).
        self._wait_log("beat", r"beat: Starting")
        time.sleep(2.5)
        if not self._processes["beat"].running():
            self._fail("beat exited after starting")

    @property
    def worker_node(self) -> str:
        return f"e2e-{self.database_name[-10:]}-{self._worker_starts}@{socket.gethostname()}"

    def start_worker(self, wait: bool = True) -> None:
        """Start a Celery worker (a new node name each time); ``wait``: until it logs ready."""
        self._worker_starts += 1
        log = self.workdir / "worker.log"
        self._worker_log_start = log.stat().st_size if log.exists() else 0
        self._spawn("worker", [PYTHON, "-m", "celery", "-A", "settings", "worker", "-l", "info",
                               "--concurrency", str(self.worker_concurrency), "-n", self.worker_node,
                               "--without-mingle", "--without-gossip"])
        if wait:
            try:
                self._wait_worker()
            except StackError as exc:
                raise StackError(f"{exc}\n{self.log_tails(['worker'])}") from None

    def kill_worker(self) -> None:
        """SIGKILL the worker's process group (the main process and its pool children)."""
        self._processes["worker"].kill()

    def stop_s3(self) -> None:
        """Cut S3: stop the proxy in front of moto (connections refused); moto keeps the bucket."""
        proxy = self._processes.get("s3proxy")
        if proxy is not None:
            proxy.kill()
        end = time.monotonic() + 10
        while port_open(self.s3_proxy_port) and time.monotonic() < end:
            time.sleep(0.05)

    def start_s3(self) -> None:
        """Restore S3: start the proxy again on the same port; return once it accepts."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
        base["PYTHONUNBUFFERED"] = "1"
        self._spawn("s3proxy", [PYTHON, "-m", "tests.e2e.tcpproxy", str(self.s3_proxy_port), str(self.s3_port)],
                    base)
        self._wait_port("s3proxy", self.s3_proxy_port)

    def running(self, name: str) -> bool:
        """Whether process ``name`` (web, worker, beat, moto, s3proxy, smtp) is running."""
        process = self._processes.get(name)
        return process is not None and process.running()

    def pid(self, name: str) -> int | None:
        process = self._processes.get(name)
        return process.pid if process else None

    def log_text(self, name: str) -> str:
        """The whole log of process ``name`` (every start of it)."""
        process = self._processes.get(name)
        return process.text() if process else ""

    def log_tails(self, names=None, lines: int = 40) -> str:
        """The last ``lines`` lines of each process's log, headed by its name."""
        out = []
        for name, process in self._processes.items():
            if names is None or name in names:
                out.append(f"----- {name} ({process.log}) -----\n{process.tail(lines)}")
        return "\n".join(out)

    # -- using it ----------------------------------------------------------------------------------

    def manage(self, *args: str, check: bool = True, timeout: float = 300,
               input: str | None = None) -> subprocess.CompletedProcess:
        """Run ``manage.py ARGS`` with the stack's environment; raise :class:`StackError` when
        ``check`` and it fails (with its output)."""
        result = subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, env=self.env, capture_output=True,
                                text=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed with {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        return result

    def session(self, user: str, password: str):
        """A ``requests.Session`` logged in as ``user`` through the login page (form with its
        CSRF token, ``X-Forwarded-Proto: https``); relative URLs are joined to ``base_url``.
        Raises :class:`StackError` when the login is refused."""
        session = _session_class()(self.base_url)
        page = session.get("/accounts/login/")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if page.status_code != 200 or not match:
            raise StackError(f"login page: {page.status_code} without a CSRF token")
        answer = session.post("/accounts/login/", data={"csrfmiddlewaretoken": match.group(1), "username": user,
                                                         "password": password}, allow_redirects=False)
        if answer.status_code != 302 or "sessionid" not in session.cookies:
            raise StackError(f"login as {user} refused: {answer.status_code} {answer.text[:500]}")
        return session

    def api_token(self, user: str) -> str:
        """``user``'s REST API token (``manage.py drf_create_token``)."""
        out = self.manage("drf_create_token", user).stdout
        match = re.search(r"Generated token (\w+) for user", out)
        if not match:
            raise StackError(f"drf_create_token {user}: unexpected output {out!r}")
        return match.group(1)

    def api(self, token: str):
        """A ``requests.Session`` for the API with ``Authorization: Token <token>`` (same
        proxy headers and relative URLs as :meth:`session`)."""
        session = _session_class()(self.base_url)
        session.headers["Authorization"] = f"Token {token}"
        return session

    def set_mail_delay(self, seconds: float) -> None:
        """Make the SMTP sink wait ``seconds`` before accepting each message (0: none)."""
        (self.workdir / "mail" / ".delay").write_text(str(seconds))

    def sent_mail(self) -> list[email.message.EmailMessage]:
        """Every message the SMTP sink accepted, in arrival order (parsed, ``email.policy.default``)."""
        return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for path in sorted((self.workdir / "mail").glob("*.eml"))]

    def s3_objects(self) -> dict[str, str]:
        """``{key: sha256 hex}`` of every object in the bucket, read from moto directly (works
        while S3 is "stopped")."""
        client = self._s3_client()
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for entry in page.get("Contents", ()):
                body = client.get_object(Bucket=self.bucket, Key=entry["Key"])["Body"].read()
                found[entry["Key"]] = hashlib.sha256(body).hexdigest()
        return found

    def cleanup_workdir(self) -> None:
        """Remove ``workdir`` (after ``stop()``)."""
        shutil.rmtree(self.workdir, ignore_errors=True)


__all__ = ("ProcessStack", "StackError", "free_port")
