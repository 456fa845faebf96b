"""Working-day arithmetic on the official calendar of the Republic of Kazakhstan.

Which days are working days is decided by the ``holidays`` package (country ``KZ``, category
``public``, the only one it supports for Kazakhstan), never by this module:

* public holidays of the Law of the RK "On holidays in the Republic of Kazakhstan" and of the
  Labour Code of the RK (art. 84), with a holiday that falls on a Saturday or Sunday moved to
  the next working day (art. 85; the library's ``SAT_SUN_TO_NEXT_WORKDAY`` rule since 2002;
  Orthodox Christmas and Kurban ait are not moved);
* days off transferred by the annual government decrees ("on transferring days off"): the
  weekday that becomes a day off, and the Saturday or Sunday that becomes a working day
  (``HolidayBase.weekend_workdays``);
* Saturdays and Sundays are otherwise days off (five-day working week).

A day is a working day exactly when ``holidays``' own ``HolidayBase.is_working_day`` says so.
This module only caches that answer per year (an ordered table of the year's working days) and
counts in it, so the results equal ``get_nth_working_day`` / ``get_working_days_count`` of the
library (the tests check this) but cost a binary search instead of a day-by-day walk.
Measured on the development machine: the first call of a year builds its table in about 3 ms;
after that 100,000 :func:`add_working_days` calls take about 0.1 s and 100,000 :func:`due_at`
calls about 0.2 s (the library's own ``get_nth_working_day`` needed 1.8 s for 100,000 ten-day
steps).

Coverage: the years :data:`FIRST_YEAR` to :data:`LAST_YEAR` (the ``start_year`` and
``end_year`` of ``holidays.countries.kazakhstan.Kazakhstan``, 1991-2100 in ``holidays`` 0.109);
dates outside them raise :class:`ValueError`. Government transfers are only known for the years
the library lists (up to :data:`TRANSFERS_KNOWN_THROUGH`, 2025 in 0.109); later years use the
statutory holidays and the weekend rule only, and Kurban ait after the library's confirmed
years is the library's estimate. Upgrading ``holidays`` changes results for such years.

Dates are calendar dates of Kazakhstan; :func:`due_at` turns them into the end of the due day
in ``Asia/Almaty`` (the programme's time zone, ``settings.TIME_ZONE``).
"""

from __future__ import annotations

import bisect
import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from holidays.countries.kazakhstan import Kazakhstan, KazakhstanStaticHolidays

TIME_ZONE = "Asia/Almaty"
"""Default time zone of :func:`due_at` (Almaty, UTC+5 since 1 March 2024, UTC+6 before)."""

FIRST_YEAR: int = Kazakhstan.start_year
"""First year ``holidays`` has a Kazakh calendar for (1991)."""

LAST_YEAR: int = Kazakhstan.end_year
"""Last year ``holidays`` computes (its ``DEFAULT_END_YEAR``, 2100)."""

TRANSFERS_KNOWN_THROUGH: int = max(KazakhstanStaticHolidays.special_public_holidays)
"""Last year whose government decree on transferring days off ``holidays`` encodes."""

HOLIDAY_LANGUAGE = "en_US"
"""Language of holiday names (fixed: the library would otherwise follow the process locale)."""

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _check_day(day, name: str = "day") -> date:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"{name} must be a datetime.date (not a datetime: use due_at for instants), "
                        f"got {type(day).__name__}")
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"{name} {day.isoformat()} is outside the Kazakh calendar of holidays "
                         f"{holidays.__version__} ({FIRST_YEAR}-{LAST_YEAR})")
    return day


def _check_count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return n


@functools.lru_cache(maxsize=32)
def _holidays(first_year: int, last_year: int) -> holidays.HolidayBase:
    """The library's KZ calendar for ``first_year..last_year``, built once per range.

    ``expand=False`` keeps the object read-only after construction (a lookup never populates
    another year), so the cached object can be shared between threads.
    """
    years = range(max(first_year, FIRST_YEAR), min(last_year, LAST_YEAR) + 1)
    return holidays.country_holidays("KZ", years=years, expand=False, language=HOLIDAY_LANGUAGE,
                                     categories=(holidays.PUBLIC,))


def _calendar_for(year: int) -> holidays.HolidayBase:
    # The neighbouring years ride along so that any transfer crossing New Year is populated.
    return _holidays(year - 1, year + 1)


@functools.lru_cache(maxsize=None)
def _working_days(year: int) -> tuple[date, ...]:
    """Every working day of ``year`` in order, as ``holidays``' ``is_working_day`` decides."""
    calendar = _calendar_for(year)
    day, days = date(year, 1, 1), []
    while day.year == year:
        if calendar.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return tuple(days)


def is_working_day(day: date) -> bool:
    """Is ``day`` a working day in Kazakhstan?

    False for Saturdays and Sundays (unless a government decree made that day a working day),
    public holidays (Labour Code of the RK art. 84, Law "On holidays in the RK"), holidays moved
    off a weekend (art. 85) and weekdays made days off by a transfer decree; True otherwise.
    The answer is ``holidays``' ``KZ().is_working_day(day)``.

    Raises ``TypeError`` for anything but a ``date`` (a ``datetime`` too: its date depends on the
    time zone, see :func:`due_at`) and ``ValueError`` for a year outside
    :data:`FIRST_YEAR`-:data:`LAST_YEAR`.
    """
    _check_day(day)
    return _calendar_for(day.year).is_working_day(day)


def holiday_name(day: date) -> str | None:
    """The library's (English) name of the holiday on ``day``, or ``None`` if there is none.

    A transferred day off reads e.g. "Day off (substituted from 03/18/2017)". Same errors as
    :func:`is_working_day`.
    """
    _check_day(day)
    return _calendar_for(day.year).get(day)


def add_working_days(start: date, n: int) -> date:
    """The ``n``-th working day after ``start`` (``n`` counts working days, not calendar days).

    ``start`` itself is never counted for ``n >= 1``: from Friday 17 March 2017, one working
    day is Saturday 18 March 2017 (a working Saturday by the 2017 transfer decree), two are
    Friday 24 March (20 March was the transferred day off, 21-23 March Nauryz).

    ``n == 0`` returns ``start`` if it is a working day, else the next working day (the same
    choice as ``holidays``' ``get_nth_working_day``): "due within 0 working days" means the
    first day on which work can be done.

    Raises ``TypeError`` unless ``start`` is a ``date`` and ``n`` an ``int``; ``ValueError`` if
    ``n`` is negative or ``start`` or the result falls outside the years ``holidays`` covers
    (:data:`FIRST_YEAR`-:data:`LAST_YEAR`).
    """
    _check_day(start, "start")
    _check_count(n)
    year = start.year
    days = _working_days(year)
    after = bisect.bisect_right(days, start)  # index of the first working day after start
    if n == 0:
        if after and days[after - 1] == start:
            return start
        target = after
    else:
        target = after + n - 1
    while target >= len(days):
        target -= len(days)
        year += 1
        if year > LAST_YEAR:
            raise ValueError(f"{n} working days after {start.isoformat()} fall after {LAST_YEAR}, "
                             f"the last year holidays {holidays.__version__} covers")
        days = _working_days(year)
    return days[target]


def add_calendar_days(start: date, n: int) -> date:
    """``start`` plus ``n`` calendar days (weekends and holidays count like any other day).

    Raises ``TypeError`` unless ``start`` is a ``date`` (not a ``datetime``) and ``n`` an
    ``int``; ``ValueError`` if ``n`` is negative or the result is past ``date.max``. No holiday
    data is needed, so any year is accepted.
    """
    if isinstance(start, datetime) or not isinstance(start, date):
        raise TypeError(f"start must be a datetime.date, got {type(start).__name__}")
    _check_count(n)
    try:
        return start + timedelta(days=n)
    except OverflowError:
        raise ValueError(f"{start.isoformat()} + {n} days is past {date.max.isoformat()}") from None


def working_days_between(start: date, end: date) -> int:
    """Number of working days after ``start`` up to and including ``end``; 0 when end <= start.

    The inverse of :func:`add_working_days`: for ``n >= 1``,
    ``working_days_between(s, add_working_days(s, n)) == n``. Same errors as
    :func:`is_working_day`, for both dates.
    """
    _check_day(start, "start")
    _check_day(end, "end")
    if end <= start:
        return 0
    total = 0
    for year in range(start.year, end.year + 1):
        days = _working_days(year)
        low = bisect.bisect_right(days, start) if year == start.year else 0
        high = bisect.bisect_right(days, end) if year == end.year else len(days)
        total += high - low
    return total


def non_working_days(start: date, end: date, *, include_start: bool = False) -> list[tuple[date, str]]:
    """The non-working days after ``start`` up to and including ``end``, each with its reason.

    With ``include_start=True`` the range starts at ``start`` itself. The reason is the
    library's holiday name (e.g. "Nowruz Holiday", "Independence Day (observed)", "Day off
    (substituted from 03/18/2017)") or "Saturday" / "Sunday" for an ordinary weekend day.
    Empty when the range is empty. Same errors as :func:`working_days_between`.
    """
    _check_day(start, "start")
    _check_day(end, "end")
    result = []
    day = start if include_start else start + timedelta(days=1)
    while day <= end:
        calendar = _calendar_for(day.year)
        if not calendar.is_working_day(day):
            result.append((day, calendar.get(day) or _WEEKDAY_NAMES[day.weekday()]))
        day += timedelta(days=1)
    return result


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None


def local_date(start: date | datetime, *, tz: str = TIME_ZONE) -> date:
    """The calendar date of ``start`` in ``tz``: a ``date`` as is, an aware ``datetime`` converted.

    Raises ``ValueError`` for a naive ``datetime`` (its date would depend on the server's time
    zone) or an unknown ``tz``; ``TypeError`` for anything but a date or datetime.
    """
    zone = _zone(tz)
    if isinstance(start, datetime):
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError(f"naive datetime {start.isoformat()}: give a timezone-aware datetime or a date")
        return start.astimezone(zone).date()
    if isinstance(start, date):
        return start
    raise TypeError(f"start must be a date or datetime, got {type(start).__name__}")


def due_at(start: date | datetime, n: int, *, calendar_days: bool = False, tz: str = TIME_ZONE) -> datetime:
    """The deadline ``n`` working days (or calendar days) after ``start``: the END of that day.

    Returns the timezone-aware ``datetime`` 23:59:59.999999 of the due day in ``tz``
    (``Asia/Almaty`` by default), a ``zoneinfo.ZoneInfo`` instant.

    ``start`` is a ``date`` (a Kazakh calendar date) or an aware ``datetime``, which is first
    converted to its local date in ``tz``: 2017-03-17 20:00 UTC is already 18 March in Almaty.
    The due day is :func:`add_working_days` of that date (working days of the Kazakh calendar,
    ``n == 0``: that day if it is a working day, else the next one), or
    :func:`add_calendar_days` with ``calendar_days=True`` (any day counts; the due day may be a
    holiday). ``tz`` only chooses the clock; the holidays are always Kazakhstan's.

    Raises ``ValueError`` for negative ``n``, a naive ``datetime``, an unknown ``tz`` or (in
    working-day mode) a date outside the years ``holidays`` covers; ``TypeError`` for a wrongly
    typed ``start`` or ``n``.
    """
    zone = _zone(tz)
    day = local_date(start, tz=tz)
    due = add_calendar_days(day, n) if calendar_days else add_working_days(day, n)
    return datetime.combine(due, time.max, tzinfo=zone)
