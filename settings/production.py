"""Production mode: what ``KELISIM_ENV=production`` requires of the environment, and how the
HTTPS, e-mail and proxy settings are read from it (``settings/settings.py`` uses these).

Production mode is chosen explicitly with ``KELISIM_ENV=production`` (not guessed from
``DATABASE_URL``: the test suite and developers run on PostgreSQL without being production).
In it, settings are taken from environment variables only, and a missing or insecure value
stops the process at start-up with :class:`~django.core.exceptions.ImproperlyConfigured`
naming every problem at once (never a secret's value). See ``deploy/.env.example`` and
``docs/operations.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

#: The key embedded mode falls back to; never accepted in production.
EMBEDDED_SECRET_KEY = "kelisim-embedded-insecure-key-do-not-use-in-production"
#: Django's own bar for a strong key (``security.W009``): at least 50 characters, 5 distinct.
SECRET_KEY_MIN_LENGTH = 50

#: Variables production mode cannot do without (besides e-mail: ``EMAIL_URL`` or ``EMAIL_HOST``).
REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL", "STORAGE_URL",
            "DEFAULT_FROM_EMAIL")

#: The placeholder of deploy/.env.example; a value containing it is refused in production.
PLACEHOLDER = "change-me"

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """``environ[name]`` as a boolean (1/true/yes/on, 0/false/no/off; empty or unset: ``default``).

    Raises ``ImproperlyConfigured`` for any other value (a typo must not silently weaken a
    security setting)."""
    value = (environ.get(name) or "").strip().lower()
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false, yes/no, on/off), not {value!r}")


def integer(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    """``environ[name]`` as an integer >= ``minimum`` (unset or empty: ``default``); raises
    ``ImproperlyConfigured`` for anything else."""
    value = (environ.get(name) or "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def check_environment(environ: Mapping[str, str]) -> None:
    """Raise ``ImproperlyConfigured`` listing every problem of a production environment.

    Problems: a variable of :data:`REQUIRED` unset or empty; ``SECRET_KEY`` equal to the
    embedded key, shorter than :data:`SECRET_KEY_MIN_LENGTH` or with fewer than 5 distinct
    characters; ``DEBUG`` on; ``DATABASE_URL`` on SQLite; ``CELERY_BROKER_URL`` ``memory://``;
    neither ``EMAIL_URL`` nor ``EMAIL_HOST`` set; any variable still holding :data:`PLACEHOLDER`.
    Values are never echoed.
    """
    problems = [f"{name} is not set" for name in REQUIRED if not (environ.get(name) or "").strip()]
    key = (environ.get("SECRET_KEY") or "").strip()
    if key == EMBEDDED_SECRET_KEY:
        problems.append("SECRET_KEY is the embedded mode's published key")
    elif key and (len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < 5):
        problems.append(f"SECRET_KEY is too weak (needs at least {SECRET_KEY_MIN_LENGTH} random characters)")
    if flag(environ, "DEBUG", False):
        problems.append("DEBUG is on")
    if (environ.get("DATABASE_URL") or "").strip().startswith("sqlite"):
        problems.append("DATABASE_URL is SQLite (production runs on PostgreSQL: postgres://...)")
    if (environ.get("CELERY_BROKER_URL") or "").strip().startswith("memory"):
        problems.append("CELERY_BROKER_URL is memory:// (use redis://... or amqp://...)")
    if not (environ.get("EMAIL_URL") or "").strip() and not (environ.get("EMAIL_HOST") or "").strip():
        problems.append("neither EMAIL_URL nor EMAIL_HOST is set")
    placeholders = sorted(name for name, value in environ.items() if PLACEHOLDER in (value or "").lower())
    if placeholders:
        problems.append(f"{', '.join(placeholders)} still hold(s) the placeholder {PLACEHOLDER!r} of .env.example")
    if problems:
        raise ImproperlyConfigured(
            "KELISIM_ENV=production: " + "; ".join(problems) + ". Set them in the environment "
            "(see deploy/.env.example; generate SECRET_KEY with `python -c \"import secrets; "
            "print(secrets.token_urlsafe(50))\"`).")


def proxy_ssl_header(value: str | None) -> tuple[str, str] | None:
    """Django's ``SECURE_PROXY_SSL_HEADER`` from ``HEADER[:VALUE]`` (e.g. ``X-Forwarded-Proto``
    means ``("HTTP_X_FORWARDED_PROTO", "https")``); ``None`` when unset.

    Set it only behind a proxy that overwrites that header on every request."""
    value = (value or "").strip()
    if not value:
        return None
    header, _, expected = value.partition(":")
    header = header.strip()
    if not header or not all(c.isalnum() or c in "-_" for c in header):
        raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER must be a header name like X-Forwarded-Proto, "
                                   f"not {value!r}")
    return "HTTP_" + header.upper().replace("-", "_"), (expected.strip() or "https")


def email_settings(environ: Mapping[str, str]) -> dict:
    """E-mail settings: from ``EMAIL_URL`` (dj-email-url: ``smtp://USER:PASSWORD@HOST:PORT?tls=1``,
    ``submission://...`` for STARTTLS on 587, ``?ssl=1`` for implicit TLS, ``console://``), else
    from ``EMAIL_HOST``, ``EMAIL_PORT`` (25), ``EMAIL_HOST_USER``, ``EMAIL_HOST_PASSWORD``,
    ``EMAIL_USE_TLS``, ``EMAIL_USE_SSL``, ``EMAIL_TIMEOUT`` (seconds, default 30); else ``{}``
    (the caller's default: files under ``var/mail``). Raises ``ImproperlyConfigured`` for an
    unknown ``EMAIL_URL`` scheme."""
    import dj_email_url

    url = (environ.get("EMAIL_URL") or "").strip()
    if url:
        scheme = url.split(":", 1)[0].lower()
        if scheme not in dj_email_url.SCHEMES:
            raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme {scheme!r}; use one of "
                                       f"{', '.join(sorted(dj_email_url.SCHEMES))}")
        conf = {k: v for k, v in dj_email_url.parse(url).items() if v is not None}
        conf.setdefault("EMAIL_TIMEOUT", integer(environ, "EMAIL_TIMEOUT", 30, 1))
        return conf
    host = (environ.get("EMAIL_HOST") or "").strip()
    if not host:
        return {}
    use_tls, use_ssl = flag(environ, "EMAIL_USE_TLS", False), flag(environ, "EMAIL_USE_SSL", False)
    if use_tls and use_ssl:
        raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: STARTTLS (587) or TLS (465)")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": host,
        "EMAIL_PORT": integer(environ, "EMAIL_PORT", 25, 1),
        "EMAIL_HOST_USER": environ.get("EMAIL_HOST_USER", ""),
        "EMAIL_HOST_PASSWORD": environ.get("EMAIL_HOST_PASSWORD", ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
        "EMAIL_TIMEOUT": integer(environ, "EMAIL_TIMEOUT", 30, 1),
    }
