"""Kelisim settings: one module, configured by environment variables.

With no variable set, Kelisim runs in *embedded mode*: SQLite under ``var/``, files under
``var/media/``, Celery tasks run eagerly in-process, and e-mail is written to ``var/mail/``.

Variables (all optional in embedded mode):

``DATABASE_URL``        ``sqlite:///ABSOLUTE/PATH`` or ``postgres://USER:PASS@HOST:PORT/NAME``.
``CONN_MAX_AGE``        seconds a database connection is kept for the next request (default 60
                        on PostgreSQL, 0 on SQLite; 0 closes it after each request).
``KELISIM_VAR_DIR``     where embedded-mode data lives (default: ``<repo>/var``).
``SECRET_KEY``          required when ``DEBUG`` is off outside embedded mode.
``DEBUG``               ``1``/``0`` (default ``0``).
``ALLOWED_HOSTS``       comma-separated (default ``127.0.0.1,localhost``).
``CELERY_BROKER_URL``   ``redis://...`` or ``amqp://...``; unset means eager (in-process) tasks.
``MEDIA_ROOT``          where the file storage keeps documents (default ``var/media``).
``STORAGE_URL``         ``file:///ABSOLUTE/PATH`` or ``s3://KEY:SECRET@HOST:PORT/BUCKET[?secure=0]``
                        (MinIO/S3); default ``file://<MEDIA_ROOT>`` (see docs/storage.md).
``EMAIL_FILE_PATH``     where the file e-mail backend writes (default ``var/mail``).
``TIME_ZONE``           default ``Asia/Almaty`` (the programme's official time zone).
``KELISIM_SOFFICE``     the LibreOffice program for PDF renditions (default ``soffice`` on PATH).
``KELISIM_PDF_TIMEOUT`` seconds one PDF conversion may take (default 120).

Production (``KELISIM_ENV=production``; settings/production.py, docs/operations.md,
deploy/.env.example): ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` (PostgreSQL),
``CELERY_BROKER_URL``, ``STORAGE_URL``, ``DEFAULT_FROM_EMAIL`` and ``EMAIL_URL`` (or
``EMAIL_HOST`` with ``EMAIL_PORT``, ``EMAIL_HOST_USER``, ``EMAIL_HOST_PASSWORD``,
``EMAIL_USE_TLS``, ``EMAIL_USE_SSL``) are required; ``DEBUG`` must be off; cookies are secure;
static files are served by WhiteNoise from ``STATIC_ROOT`` (``collectstatic``, hashed and
compressed names). Also read: ``CSRF_TRUSTED_ORIGINS`` (comma-separated ``https://HOST``),
``SECURE_SSL_REDIRECT`` (default 1 in production), ``SECURE_PROXY_SSL_HEADER`` (e.g.
``X-Forwarded-Proto``, only behind a TLS-terminating proxy that sets it),
``SECURE_HSTS_SECONDS`` (default 31536000 in production), ``SECURE_HSTS_INCLUDE_SUBDOMAINS``
(default 1), ``SECURE_HSTS_PRELOAD`` (default 1), ``STATIC_ROOT``, ``KELISIM_DB_CONNECT_TIMEOUT``
(seconds, default 5).

Observability (operations/, docs/operations.md): ``LOG_FORMAT`` (``json`` or ``text``; json
in production), ``LOG_LEVEL`` (default ``INFO`` in production, else ``WARNING``),
``KELISIM_METRICS_TOKEN`` (bearer token for ``/metrics``; without it only loopback clients),
``PROMETHEUS_MULTIPROC_DIR`` (gunicorn and Celery prefork: read by prometheus-client),
``KELISIM_WORKER_METRICS_PORT`` (a Celery worker's own metrics port), ``KELISIM_STARTUP_CHECKS``
(deployment checks at the start of web, worker and beat; default on in production).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from . import production
from .storage_url import parse_storage_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KELISIM_VAR_DIR", BASE_DIR / "var")).resolve()


def env_bool(name: str, default: bool = False) -> bool:
    """Return the boolean value of environment variable ``name`` (1/true/yes/on)."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Return a comma-separated environment variable as a list of stripped items."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
EMBEDDED = "DATABASE_URL" not in os.environ or os.environ["DATABASE_URL"].startswith("sqlite")
if "DATABASE_URL" not in os.environ:
    (VAR_DIR / "static").mkdir(parents=True, exist_ok=True)  # embedded database and collected static files

# Production mode is explicit (settings/production.py): every required variable set, nothing insecure.
KELISIM_ENV = os.environ.get("KELISIM_ENV", "").strip().lower() or "development"
if KELISIM_ENV not in ("production", "development"):
    raise ImproperlyConfigured(f"KELISIM_ENV must be 'production' or 'development', not {KELISIM_ENV!r}")
PRODUCTION = KELISIM_ENV == "production"
if PRODUCTION:
    production.check_environment(os.environ)  # ImproperlyConfigured naming every problem

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # Embedded mode only: a fixed, clearly insecure key. Production sets SECRET_KEY.
    SECRET_KEY = production.EMBEDDED_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",  # the REST API under /api/ (api/, docs/api.md)
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "axes",  # login rate limiting (AXES_* below)
    "csp",  # Content-Security-Policy header (CONTENT_SECURITY_POLICY below)
    "workflow",
    "workflow.approvals",
    "documents",
    "processes.rounds",
    "processes.submission",
    "processes.selection",
    "processes.diagnosis",
    "processes.planning",
    "processes.support",
    "processes.implementation",
    "processes.advisory",
    "processes.training",
    "processes.portal",
    "api",
    "operations",  # health, readiness, metrics, request ids, deployment checks (docs/operations.md)
    # After Kelisim's apps, so that Kelisim's templates (e.g. registration/login.html) win.
    "viewflow",
    "viewflow.workflow",
]
if env_bool("KELISIM_BENCH"):  # `make bench` only: a model to measure the engine with
    INSTALLED_APPS.append("bench")

MIDDLEWARE = [
    # First: the request id (X-Request-ID) for every log line, one access log line, HTTP metrics.
    "operations.middleware.ObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # After a login, the language cookie follows the person's saved language (docs/i18n.md).
    "processes.portal.language.LoginLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # 404 for a URL path, 400 for a query or form value, holding NUL or another C0 control
    # character (processes/portal/controlchars.py, docs/security.md).
    "processes.portal.controlchars.ControlCharacterMiddleware",
    # The problem page, in the reader's language, for a 405 Django answers with an empty body.
    "processes.portal.methods.MethodNotAllowedPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last but one: turns a locked-out login (django-axes) into the 429 lockout page.
    "axes.middleware.AxesMiddleware",
    # A chunked body (no Content-Length) is read up to the limits below, or 411 (docs/security.md).
    "processes.portal.files.UnsizedBodyMiddleware",
    # The same 413 for /api/ requests, in the API's JSON error shape (api/errors.py).
    "api.errors.ApiRequestSizeLimitMiddleware",
    # 413 with a message for request bodies over the limits below (uploads: docs/uploads-and-dossiers.md).
    "processes.portal.files.RequestSizeLimitMiddleware",
]

ROOT_URLCONF = "settings.urls"
WSGI_APPLICATION = "settings.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'kelisim.sqlite3'}")
# Persistent connections (Django's "Persistent connections"): a new PostgreSQL connection per
# request costs a server process (fork, authentication) and its cold catalogue caches; each web
# thread and worker keeps its connection for CONN_MAX_AGE seconds (default 60 on PostgreSQL,
# 0 on SQLite), checked before it is reused after an idle request (CONN_HEALTH_CHECKS), so a
# restarted server costs one failed check, not a failed request. Budget: web processes x
# threads x machines + worker concurrency <= the server's max_connections (deploy/README.md).
DATABASES = {
    "default": dj_database_url.parse(
        _DATABASE_URL,
        conn_max_age=int(os.environ.get("CONN_MAX_AGE") or (0 if _DATABASE_URL.startswith("sqlite") else 60)),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file in the embedded mode: wait for a
    # competing writer instead of failing with "database is locked", take the write lock when
    # a transaction begins (a deferred one that later writes can fail at once, whatever the
    # timeout), and let readers go on while one writes (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20, transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
else:
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get("TEST_DATABASE_NAME")
    # An unreachable server fails within seconds (readiness, start-up checks) instead of hanging.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", production.integer(os.environ, "KELISIM_DB_CONNECT_TIMEOUT", 5, 1))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The UI falls back to English until the kk/ru catalogues land (issue 6); documents use the
# case's language (KELISIM_DOCUMENT_LANGUAGE, default Russian).
LANGUAGE_CODE = "en"
LANGUAGES = [("kk", "Қазақша"), ("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["settings.formats"]
# The workflow engine names transitions in its messages by these labels (docs/i18n.md).
WORKFLOW_TRANSITION_LABEL = "processes.portal.labels.transition_label"
USE_I18N = True
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Almaty")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or VAR_DIR / "static")
WHITENOISE_USE_FINDERS = not PRODUCTION  # production serves what collectstatic wrote
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
# Documents go to STORAGE_URL (settings/storage_url.py, docs/storage.md): file:///ABSOLUTE/PATH
# or s3://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET[?secure=0]; unset means file://<MEDIA_ROOT>.
STORAGE_URL = os.environ.get("STORAGE_URL", "") or MEDIA_ROOT.resolve().as_uri()
STORAGES = {
    "default": parse_storage_url(STORAGE_URL),
    "staticfiles": {"BACKEND": "settings.staticfiles.StaticFilesStorage" if PRODUCTION
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = Path(os.environ.get("EMAIL_FILE_PATH", VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "kelisim@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# EMAIL_URL, or EMAIL_HOST and its companions, switch to SMTP (settings/production.py).
globals().update(production.email_settings(os.environ))

# Security (docs/security.md). AxesStandaloneBackend first: a locked-out login is refused
# before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sessions: KELISIM_SESSION_HOURS of inactivity-free life (default 8 h), gone when the
# browser closes; cookies never readable by scripts, not sent on cross-site POSTs.
SESSION_COOKIE_AGE = int(float(os.environ.get("KELISIM_SESSION_HOURS", "8")) * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# A failed CSRF check shows the portal's translated problem page, not Django's English one.
CSRF_FAILURE_VIEW = "processes.portal.csrf.csrf_failure"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION or env_bool("KELISIM_SECURE_COOKIES",
                                                                     not EMBEDDED and not DEBUG)
# HTTPS (production defaults; docs/operations.md). Behind a TLS-terminating proxy set
# SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto (the proxy must overwrite that header).
SECURE_SSL_REDIRECT = production.flag(os.environ, "SECURE_SSL_REDIRECT", PRODUCTION)
# Probes and scrapers talk plain HTTP to the process itself (deploy/compose.yaml healthchecks).
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^ready/$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = production.proxy_ssl_header(os.environ.get("SECURE_PROXY_SSL_HEADER"))
SECURE_HSTS_SECONDS = production.integer(os.environ, "SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = production.flag(os.environ, "SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = production.flag(os.environ, "SECURE_HSTS_PRELOAD", True)
SILENCED_SYSTEM_CHECKS = [
    # Switched off on purpose (the proxy redirects to HTTPS; the domain is not for the preload list).
    *(["security.W008"] if not SECURE_SSL_REDIRECT and os.environ.get("SECURE_SSL_REDIRECT") else []),
    *(["security.W021"] if not SECURE_HSTS_PRELOAD else []),
]
# Content-Security-Policy (django-csp 4): only this site's scripts (no inline script anywhere),
# styles from this site plus inline style blocks and attributes (the templates and the
# server-rendered SVG charts use them), images from this site and data: URLs, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Login rate limiting (django-axes): KELISIM_LOGIN_FAILURE_LIMIT failed logins for one
# username from one IP address lock that pair out for KELISIM_LOGIN_COOLOFF_MINUTES; the
# lockout page answers 429. Other users and other addresses are not affected.
AXES_FAILURE_LIMIT = int(os.environ.get("KELISIM_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("KELISIM_LOGIN_COOLOFF_MINUTES", "15")) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "processes.portal.security.lockout_response"  # the 429 page
# The client address is REMOTE_ADDR (django-ipware is not installed): behind a reverse proxy,
# have the proxy set REMOTE_ADDR (e.g. gunicorn --forwarded-allow-ips) or set AXES_CLIENT_IP_CALLABLE.

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:case-list"
LOGOUT_REDIRECT_URL = "login"

# Celery: eager in embedded mode (no broker configured).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "memory://")
CELERY_TASK_ALWAYS_EAGER = "CELERY_BROKER_URL" not in os.environ
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Workers log through LOGGING below (JSON in production), not Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Logs (docs/operations.md): one line per record on stderr, JSON (LOG_FORMAT=json, the production
# default) or text; every record carries the request id of the request it belongs to
# (operations/logs.py), "-" outside requests.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "").strip().lower() or ("json" if PRODUCTION else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "").strip().upper() or ("INFO" if PRODUCTION else "WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "operations.logs.RequestIdFilter"},
                # a form with too many fields or a body too big is a client's mistake: one WARNING line
                "client_limits": {"()": "operations.logs.ClientLimitFilter"}},
    "formatters": {
        "json": {"()": "operations.logs.json_formatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                             "filters": ["request_id", "client_limits"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "kelisim.security": {"level": "WARNING"},
        # Access lines (operations/middleware.py): on in production, quiet in development and tests.
        "kelisim.request": {"level": "INFO" if PRODUCTION else "WARNING"},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# Metrics (operations/metrics.py): /metrics answers loopback clients, or anyone presenting
# "Authorization: Bearer <KELISIM_METRICS_TOKEN>" when the token is set (then only them).
KELISIM_METRICS_TOKEN = os.environ.get("KELISIM_METRICS_TOKEN", "")

# Kelisim's own settings.
# Reminders, in working days relative to the due day (-2: two working days before; 0: on the
# day), and the working days between escalations once work is overdue.
KELISIM_REMINDER_OFFSETS = tuple(int(x) for x in env_list("KELISIM_REMINDER_OFFSETS", "-2,0"))
KELISIM_ESCALATE_EVERY = int(os.environ.get("KELISIM_ESCALATE_EVERY", "2"))
KELISIM_DOCUMENT_LANGUAGE = os.environ.get("KELISIM_DOCUMENT_LANGUAGE", "ru")
# PDF renditions (documents/pdf.py, docs/pdf.md): the LibreOffice program and the seconds one
# conversion may take; the Celery task's soft/hard time limits are this plus 30/60 s.
KELISIM_SOFFICE = os.environ.get("KELISIM_SOFFICE", "soffice")
KELISIM_PDF_TIMEOUT = float(os.environ.get("KELISIM_PDF_TIMEOUT", "120"))
# Uploads and dossiers (documents/uploads.py, docs/uploads-and-dossiers.md): the largest upload
# (bytes; larger ones get 413 before they are stored), the zip-bomb guard for Office files
# (entries, total declared uncompressed bytes, uncompressed/compressed ratio per entry), and
# the largest request body that is not a file upload (Django's DATA_UPLOAD_MAX_MEMORY_SIZE).
KELISIM_UPLOAD_MAX_BYTES = int(os.environ.get("KELISIM_UPLOAD_MAX_BYTES", str(25 * 1024 * 1024)))
# The largest dossier ZIP the dossier check (portal:dossier-verify) accepts, in bytes: a dossier
# holds every document of a case, so its limit is its own; streamed to a temporary file.
KELISIM_DOSSIER_VERIFY_MAX_BYTES = int(os.environ.get("KELISIM_DOSSIER_VERIFY_MAX_BYTES", str(512 * 1024 * 1024)))
KELISIM_ARCHIVE_MAX_ENTRIES = int(os.environ.get("KELISIM_ARCHIVE_MAX_ENTRIES", "1000"))
KELISIM_ARCHIVE_MAX_UNCOMPRESSED_BYTES = int(os.environ.get("KELISIM_ARCHIVE_MAX_UNCOMPRESSED_BYTES",
                                                            str(100 * 1024 * 1024)))
KELISIM_ARCHIVE_MAX_RATIO = int(os.environ.get("KELISIM_ARCHIVE_MAX_RATIO", "100"))
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("KELISIM_REQUEST_BODY_MAX_BYTES", str(2 * 1024 * 1024)))
# Long operations as background jobs (processes/portal/jobs.py, docs/jobs.md):
# dossiers whose documents add up to more bytes, and bulk transitions over more cases, run as
# jobs with a progress page; a finished job and its file are removed after KELISIM_JOB_KEEP_HOURS.
KELISIM_DOSSIER_JOB_BYTES = int(os.environ.get("KELISIM_DOSSIER_JOB_BYTES", str(20 * 1024 * 1024)))
KELISIM_BULK_JOB_CASES = int(os.environ.get("KELISIM_BULK_JOB_CASES", "20"))
KELISIM_JOB_KEEP_HOURS = int(os.environ.get("KELISIM_JOB_KEEP_HOURS", "24"))

# REST API (api/, docs/api.md): token (header "Authorization: Token <key>", made with
# `manage.py drf_create_token USERNAME`) or session authentication; an unauthenticated request
# is answered 401 (token authentication comes first, so there is a WWW-Authenticate challenge).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.paging.Pagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "api.paging.SafeSearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kelisim API",
    "DESCRIPTION": "Cases, applications, score sheets, transitions, documents, tasks, approvals and audit "
                   "entries of the Kelisim workflow engine. Authenticate with a token "
                   "(Authorization: Token <key>) or a session. Errors: {code, message, details}. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ApplicationStateEnum": "processes.submission.models.Application.State",
        "LanguageEnum": "settings.settings.LANGUAGES",
    },
}
