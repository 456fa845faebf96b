"""Case-insensitive matching of any alphabet on SQLite, as on PostgreSQL.

SQLite's ``LIKE`` folds ASCII letters only, so on the embedded database (``make demo``,
one machine) ``?search=туристический`` missed "Туристический кластер" while ``almaty``
found "Almaty". PostgreSQL compares ``UPPER()`` of both sides in any alphabet. Here the
case-insensitive lookups of every ``CharField`` and ``TextField`` (``icontains``,
``istartswith``, ``iendswith``, ``iexact``: DRF's ``?search=``, the work page's ``q``, the
admin's search) compare ``kelisim_casefold(column)`` with the casefolded pattern on SQLite;
``kelisim_casefold`` is Python's ``str.casefold`` registered on every SQLite connection.
Other databases keep Django's SQL. Cost: one Python call per row compared (no index serves
a ``LIKE '%...%'`` anyway); the embedded mode holds thousands of cases, not millions.
"""

from __future__ import annotations

from django.db.backends.signals import connection_created
from django.db.models import CharField, TextField, lookups

#: The SQL name of the function registered on SQLite connections.
FUNCTION = "kelisim_casefold"


def casefold(value):
    """``str.casefold`` for text, anything else (NULL, numbers) unchanged."""
    return value.casefold() if isinstance(value, str) else value


def register_function(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: register :data:`FUNCTION` on a new SQLite connection."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(FUNCTION, 1, casefold, deterministic=True)


class _FoldedOnSQLite:
    """Mixin for a case-insensitive pattern lookup: on SQLite, casefold both sides."""

    def as_sqlite(self, compiler, connection):
        if not self.rhs_is_direct_value() or self.bilateral_transforms:
            return self.as_sql(compiler, connection)
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        rhs_params = [casefold(p) for p in rhs_params]
        return f"{FUNCTION}({lhs_sql}) {self.get_rhs_op(connection, rhs_sql)}", (*lhs_params, *rhs_params)


class FoldedIExact(_FoldedOnSQLite, lookups.IExact):
    pass


class FoldedIContains(_FoldedOnSQLite, lookups.IContains):
    pass


class FoldedIStartsWith(_FoldedOnSQLite, lookups.IStartsWith):
    pass


class FoldedIEndsWith(_FoldedOnSQLite, lookups.IEndsWith):
    pass


def install() -> None:
    """Register the lookups on ``CharField`` and ``TextField`` (replacing Django's of the same
    names) and the function on new SQLite connections; called once from the app's ``ready``."""
    for field in (CharField, TextField):
        for lookup in (FoldedIExact, FoldedIContains, FoldedIStartsWith, FoldedIEndsWith):
            field.register_lookup(lookup)
    connection_created.connect(register_function, dispatch_uid="kelisim-sqlite-casefold")
