"""Settings of the browser tests' server: Kelisim's settings with a fast password hasher.

The journeys log in through the login form several times; MD5 makes that and
``create_demo_users`` take milliseconds instead of seconds (tests only: speed, not security,
as in ``tests/conftest.py``). Everything else (database, storage) comes from the environment
that ``tests/browser/conftest.py`` gives the server process.
"""

from settings.settings import *  # noqa: F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A throwaway database: no need to wait for the disk after every commit.
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"  # noqa: F405
