"""Amounts stored beyond what SQLite keeps exactly, made readable again (used by the data
migrations ``planning.0003_readable_amounts`` and ``support.0003_readable_amounts``).

SQLite, the embedded default, stores a Django ``DecimalField`` as a REAL: 15 significant digits
survive. Before the limit was 15 digits (``processes.planning.forms.MAX_KZT``), an amount such as
99 999 999 999 999,99 was stored as 1e14, and Django's SQLite reader (15 digits, then the
column's 16) refuses that with ``decimal.InvalidOperation``: every page and API list reading the
row answered 500. :func:`repair` rewrites only such unreadable values, as the nearest amount the
column reads back (99 999 999 999 999, stored as an exact INTEGER); the other over-limit values
read back (rounded to 15 digits when stored, which nothing can undo) and are left alone.
PostgreSQL stores the declared 16 digits exactly: nothing to do there.
"""

from __future__ import annotations

import decimal

#: What an unreadable amount becomes: the largest whole-tenge amount of 14 digits.
READABLE_MAX = 99999999999999


def unreadable(raw, max_digits: int, places: int = 2) -> bool:
    """Whether Django's SQLite reader fails on the stored ``raw`` value (a float or int) of a
    column of ``max_digits`` digits with ``places`` decimals (the reader's own steps)."""
    if raw is None:
        return False
    try:
        decimal.Context(prec=15).create_decimal_from_float(raw).quantize(
            decimal.Decimal(1).scaleb(-places), context=decimal.Context(prec=max_digits))
    except decimal.InvalidOperation:
        return True
    return False


def repair(schema_editor, table: str, column: str, max_digits: int) -> list[tuple[int, float]]:
    """On SQLite, set every unreadable ``column`` of ``table`` to :data:`READABLE_MAX`; returns
    the ``(id, stored value)`` pairs changed (nothing on other databases)."""
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return []
    quoted_table, quoted_column = (connection.ops.quote_name(n) for n in (table, column))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {quoted_column} FROM {quoted_table} WHERE {quoted_column} >= %s",
                       [10 ** (max_digits - 3)])
        changed = [(pk, raw) for pk, raw in cursor.fetchall() if unreadable(raw, max_digits)]
        for pk, _raw in changed:
            cursor.execute(f"UPDATE {quoted_table} SET {quoted_column} = %s WHERE id = %s", [READABLE_MAX, pk])
    return changed
