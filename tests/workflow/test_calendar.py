"""Working-day arithmetic on Kazakhstan's calendar (``workflow.calendar``) and ``due_date``.

Expected values come from the ``holidays`` package's own KZ data wherever possible (a separate
library object, walked day by day); the pinned 2017 facts are checked against that data first.
"""

from datetime import date, datetime, timedelta, timezone
from io import StringIO
from zoneinfo import ZoneInfo

import holidays
import pytest
from django.core.management import CommandError, call_command

from workflow import calendar

ALMATY = ZoneInfo("Asia/Almaty")
END_OF_DAY = (23, 59, 59, 999999)
YEARS = sorted({2017, 2026, date.today().year})  # the sample round's year and the current one


def library(year: int) -> holidays.HolidayBase:
    """An independent ``holidays`` KZ calendar around ``year`` (not the module's cached one)."""
    return holidays.country_holidays("KZ", years=range(year - 1, year + 2), expand=False, language="en_US")


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def library_working_days(year: int) -> list[date]:
    kz = library(year)
    return [day for day in days_of(year) if kz.is_working_day(day)]


def weekend_workdays(*years: int) -> list[date]:
    """The Saturdays and Sundays the library makes working days (transfer decrees) in ``years``."""
    found = set()
    for year in years:
        found |= {day for day in library(year).weekend_workdays if day.year == year}
    return sorted(found)


# --- agreement with the library, day by day, for 2017 and the current year -----------------------


@pytest.mark.parametrize("year", YEARS)
def test_is_working_day_is_the_libraries_answer_for_every_day(year):
    kz = library(year)
    for day in days_of(year):
        weekend = day.weekday() >= 5
        # the library's data: a weekend day works only if a decree says so; a weekday unless it is a holiday
        expected = day in kz.weekend_workdays if weekend else day not in kz
        assert calendar.is_working_day(day) is expected is kz.is_working_day(day), day


@pytest.mark.parametrize("year", YEARS)
def test_working_days_in_a_year_are_counted_from_the_library(year):
    expected = len(library_working_days(year))
    assert expected == library(year).get_working_days_count(date(year, 1, 1), date(year, 12, 31))
    assert calendar.working_days_between(date(year - 1, 12, 31), date(year, 12, 31)) == expected
    assert 200 < expected < 262  # fewer than the year's weekdays: holidays are really there


@pytest.mark.parametrize("year", YEARS)
def test_add_working_days_matches_the_libraries_nth_working_day(year):
    kz = library(year)
    for start in days_of(year):
        for n in (0, 1, 2, 5, 10, 30):
            due = calendar.add_working_days(start, n)
            assert due == kz.get_nth_working_day(start, n), (start, n)
            if n:
                assert calendar.working_days_between(start, due) == n
                assert calendar.working_days_between(start, due - timedelta(days=1)) == n - 1


@pytest.mark.parametrize("year", YEARS)
def test_add_working_days_indexes_the_years_working_days(year):
    working = library_working_days(year)
    eve = date(year - 1, 12, 31)
    for n, day in enumerate(working, start=1):
        assert calendar.add_working_days(eve, n) == day


def test_working_days_between_is_zero_for_an_empty_or_reversed_range():
    day = date(2017, 3, 17)
    assert calendar.working_days_between(day, day) == 0
    assert calendar.working_days_between(day, date(2017, 3, 1)) == 0
    assert calendar.working_days_between(day, date(2017, 3, 18)) == 1  # a working Saturday


# --- working Saturdays and transferred days off -----------------------------------------------


def test_the_library_knows_the_2017_transfer_decree():
    """Government decree of 2017 (P1700000005): 18 March and 1 July worked, 20 March and 7 July off."""
    kz = library(2017)
    assert weekend_workdays(2017) == [date(2017, 3, 18), date(2017, 7, 1)]
    assert kz.get(date(2017, 3, 20)).startswith("Day off (substituted from")
    assert kz.get(date(2017, 7, 7)).startswith("Day off (substituted from")


@pytest.mark.parametrize("workday", weekend_workdays(*YEARS), ids=str)
def test_a_working_weekend_day_is_counted(workday):
    assert workday.weekday() >= 5
    assert calendar.is_working_day(workday)
    assert calendar.add_working_days(workday - timedelta(days=1), 1) == workday
    assert calendar.add_working_days(workday, 0) == workday
    assert calendar.working_days_between(workday - timedelta(days=1), workday) == 1


def test_2017_march_transfer_and_nauryz():
    assert calendar.is_working_day(date(2017, 3, 18))  # Saturday, worked for 20 March
    assert not calendar.is_working_day(date(2017, 3, 20))  # the transferred day off
    assert not any(calendar.is_working_day(date(2017, 3, d)) for d in (21, 22, 23))  # Nauryz
    assert calendar.holiday_name(date(2017, 3, 21)) == "Nowruz Holiday"
    assert calendar.add_working_days(date(2017, 3, 17), 1) == date(2017, 3, 18)
    assert calendar.add_working_days(date(2017, 3, 17), 2) == date(2017, 3, 24)
    assert calendar.add_working_days(date(2017, 3, 18), 1) == date(2017, 3, 24)
    assert calendar.working_days_between(date(2017, 3, 17), date(2017, 3, 24)) == 2


def test_2017_july_transfer_and_capital_day():
    assert calendar.is_working_day(date(2017, 7, 1))  # Saturday, worked for 7 July
    assert not calendar.is_working_day(date(2017, 7, 6))  # Capital Day
    assert not calendar.is_working_day(date(2017, 7, 7))  # transferred day off
    assert calendar.add_working_days(date(2017, 6, 30), 1) == date(2017, 7, 1)
    assert calendar.add_working_days(date(2017, 6, 30), 2) == date(2017, 7, 3)
    assert calendar.add_working_days(date(2017, 7, 5), 1) == date(2017, 7, 10)


def test_2017_new_year_and_independence_day_moved_off_the_weekend():
    kz = library(2017)
    # 1 January 2017 was a Sunday: 1-2 January plus the observed 3 January (Labour Code art. 85)
    assert [kz.get(date(2017, 1, d)) for d in (1, 2, 3)] == ["New Year's Day"] * 2 + ["New Year's Day (observed)"]
    assert not any(calendar.is_working_day(date(2017, 1, d)) for d in (1, 2, 3))
    assert calendar.add_working_days(date(2016, 12, 30), 1) == date(2017, 1, 4)
    # 16-17 December 2017 fell on Saturday-Sunday: observed on Monday 18 and Tuesday 19
    assert kz.get(date(2017, 12, 16)) == kz.get(date(2017, 12, 17)) == "Independence Day"
    assert kz.get(date(2017, 12, 18)) == kz.get(date(2017, 12, 19)) == "Independence Day (observed)"
    assert calendar.add_working_days(date(2017, 12, 15), 1) == date(2017, 12, 20)
    assert calendar.working_days_between(date(2017, 12, 15), date(2017, 12, 20)) == 1


def test_crossing_new_year():
    assert calendar.add_working_days(date(2017, 12, 29), 1) == date(2018, 1, 3)  # 1-2 January 2018 off
    assert calendar.working_days_between(date(2017, 12, 29), date(2018, 1, 3)) == 1
    # a transfer across New Year in the library's data: Saturday 28 December 2013 worked for 3 January 2014
    assert calendar.is_working_day(date(2013, 12, 28))
    assert not calendar.is_working_day(date(2014, 1, 3))


def test_current_year_in_the_libraries_data():
    kz = library(2026)
    # Nauryz 21-23 March 2026 starts on a Saturday: 21-25 March off
    assert not any(calendar.is_working_day(date(2026, 3, d)) for d in range(21, 26))
    assert kz.get(date(2026, 3, 25)) == "Nowruz Holiday (observed)"
    assert not calendar.is_working_day(date(2026, 12, 16))  # Independence Day (one day since 2022)
    assert calendar.is_working_day(date(2026, 12, 17))
    today = date(2026, 11, 29)  # a Sunday
    assert calendar.add_working_days(today, 0) == date(2026, 11, 30)
    remaining = [day for day in library_working_days(2026) if day > today]
    assert calendar.working_days_between(today, date(2026, 12, 31)) == len(remaining)
    assert calendar.add_working_days(today, len(remaining)) == date(2026, 12, 31)


def test_n_zero_on_a_working_day_is_that_day():
    assert calendar.add_working_days(date(2017, 3, 17), 0) == date(2017, 3, 17)
    assert calendar.add_working_days(date(2017, 3, 19), 0) == date(2017, 3, 24)


# --- errors ---------------------------------------------------------------------------------


def test_negative_or_non_integer_n_is_refused():
    with pytest.raises(ValueError, match="n must be >= 0"):
        calendar.add_working_days(date(2017, 3, 17), -1)
    with pytest.raises(ValueError):
        calendar.add_calendar_days(date(2017, 3, 17), -1)
    with pytest.raises(TypeError):
        calendar.add_working_days(date(2017, 3, 17), 1.5)
    with pytest.raises(TypeError):
        calendar.add_working_days(date(2017, 3, 17), True)


def test_years_outside_the_libraries_calendar_are_refused():
    assert (calendar.FIRST_YEAR, calendar.LAST_YEAR) == (holidays.KZ.start_year, holidays.KZ.end_year)
    with pytest.raises(ValueError, match="outside"):
        calendar.is_working_day(date(calendar.FIRST_YEAR - 1, 12, 31))
    with pytest.raises(ValueError, match="outside"):
        calendar.add_working_days(date(calendar.LAST_YEAR + 1, 1, 1), 1)
    with pytest.raises(ValueError, match=str(calendar.LAST_YEAR)):
        calendar.add_working_days(date(calendar.LAST_YEAR, 12, 20), 30)
    with pytest.raises(ValueError, match="outside"):
        calendar.working_days_between(date(2017, 1, 1), date(calendar.LAST_YEAR + 1, 1, 1))


def test_a_datetime_is_not_a_calendar_day():
    with pytest.raises(TypeError, match="due_at"):
        calendar.is_working_day(datetime(2017, 3, 17, 20, tzinfo=timezone.utc))


def test_transfers_known_through_is_the_libraries_last_decree_year():
    assert calendar.TRANSFERS_KNOWN_THROUGH >= 2017
    assert weekend_workdays(calendar.TRANSFERS_KNOWN_THROUGH + 1) == []


# --- calendar days and due_at ------------------------------------------------------------------


def test_add_calendar_days_counts_every_day():
    assert calendar.add_calendar_days(date(2017, 3, 17), 0) == date(2017, 3, 17)
    assert calendar.add_calendar_days(date(2017, 3, 17), 3) == date(2017, 3, 20)  # lands on a day off
    assert calendar.add_calendar_days(date(2017, 12, 30), 3) == date(2018, 1, 2)
    with pytest.raises(ValueError):
        calendar.add_calendar_days(date.max, 1)


@pytest.mark.parametrize(("start", "offset_hours"), [(date(2017, 3, 17), 6), (date(2026, 11, 30), 5)])
def test_due_at_is_the_end_of_the_due_day_in_almaty(start, offset_hours):
    due = calendar.due_at(start, 1)
    assert due.tzinfo is not None and due.tzinfo.key == "Asia/Almaty"
    assert (due.hour, due.minute, due.second, due.microsecond) == END_OF_DAY
    assert due.utcoffset() == timedelta(hours=offset_hours)  # Almaty moved from UTC+6 to UTC+5 in 2024
    assert due.date() == calendar.add_working_days(start, 1)
    assert due + timedelta(microseconds=1) == datetime.combine(due.date() + timedelta(days=1),
                                                               datetime.min.time(), tzinfo=ALMATY)


def test_due_at_uses_the_almaty_date_of_a_late_utc_evening():
    evening = datetime(2017, 3, 17, 20, 0, tzinfo=timezone.utc)  # 02:00 on Saturday 18 March in Almaty
    assert calendar.local_date(evening) == date(2017, 3, 18)
    assert calendar.due_at(evening, 1) == datetime(2017, 3, 24, *END_OF_DAY, tzinfo=ALMATY)
    assert calendar.due_at(date(2017, 3, 17), 1) == datetime(2017, 3, 18, *END_OF_DAY, tzinfo=ALMATY)

    evening = datetime(2026, 12, 15, 19, 30, tzinfo=timezone.utc)  # 00:30 on 16 December (UTC+5), a holiday
    assert calendar.due_at(evening, 0) == datetime(2026, 12, 17, *END_OF_DAY, tzinfo=ALMATY)
    assert calendar.due_at(date(2026, 12, 15), 0) == datetime(2026, 12, 15, *END_OF_DAY, tzinfo=ALMATY)

    evening = datetime(2026, 12, 17, 19, 30, tzinfo=timezone.utc)  # 00:30 on Friday 18 December
    assert calendar.due_at(evening, 1) == datetime(2026, 12, 21, *END_OF_DAY, tzinfo=ALMATY)
    assert calendar.due_at(date(2026, 12, 17), 1) == datetime(2026, 12, 18, *END_OF_DAY, tzinfo=ALMATY)
    assert calendar.due_at(datetime(2026, 12, 17, 18, 59, tzinfo=timezone.utc), 1).date() == date(2026, 12, 18)


def test_due_at_in_calendar_days():
    assert calendar.due_at(date(2017, 3, 17), 3, calendar_days=True) == datetime(2017, 3, 20, *END_OF_DAY,
                                                                                 tzinfo=ALMATY)
    assert calendar.due_at(date(2017, 3, 19), 0, calendar_days=True).date() == date(2017, 3, 19)
    evening = datetime(2017, 3, 17, 20, 0, tzinfo=timezone.utc)
    assert calendar.due_at(evening, 0, calendar_days=True).date() == date(2017, 3, 18)


def test_due_at_in_another_time_zone_keeps_kazakh_holidays():
    due = calendar.due_at(date(2017, 3, 17), 2, tz="UTC")
    assert due == datetime(2017, 3, 24, *END_OF_DAY, tzinfo=ZoneInfo("UTC"))


def test_due_at_refuses_naive_datetimes_and_unknown_zones():
    with pytest.raises(ValueError, match="naive"):
        calendar.due_at(datetime(2017, 3, 17, 20, 0), 1)
    with pytest.raises(ValueError, match="time zone"):
        calendar.due_at(date(2017, 3, 17), 1, tz="Mars/Olympus")
    with pytest.raises(ValueError):
        calendar.due_at(date(2017, 3, 17), -1)


def test_the_cache_makes_repeated_calls_cheap():
    calendar.add_working_days(date(2017, 3, 17), 5)
    before = calendar._working_days.cache_info()
    for n in range(1000):
        calendar.due_at(date(2017, 3, 17), n % 50)
    after = calendar._working_days.cache_info()
    assert after.misses - before.misses <= 1  # at most 2018 is new; 2017 comes from the cache


# --- the due_date command ----------------------------------------------------------------------


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("due_date", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_due_date_command_prints_the_due_day_and_the_skipped_days():
    out, err = run("2017-03-17", "2")
    lines = out.splitlines()
    assert lines[0] == "due date: 2017-03-24 (2 working days after 2017-03-17)"
    assert lines[1] == "due at: 2017-03-24T23:59:59.999999+06:00 Asia/Almaty"
    assert lines[2] == "skipped non-working days:"
    skipped = [line.strip() for line in lines[3:]]
    assert skipped == [
        "2017-03-19 Sunday",
        "2017-03-20 Day off (substituted from 03/18/2017)",
        "2017-03-21 Nowruz Holiday",
        "2017-03-22 Nowruz Holiday",
        "2017-03-23 Nowruz Holiday",
    ]
    assert err == ""


def test_due_date_command_in_calendar_days():
    out, _ = run("2017-03-17", "3", "--calendar-days")
    assert out.splitlines()[0] == "due date: 2017-03-20 (3 calendar days after 2017-03-17)"
    assert "due at: 2017-03-20T23:59:59.999999+06:00 Asia/Almaty" in out
    assert "non-working days counted:" in out and "2017-03-20 Day off" in out


def test_due_date_command_lists_a_non_working_start_for_n_zero_and_flags_unknown_transfers():
    out, err = run("2026-11-29", "0")
    assert out.splitlines()[0] == "due date: 2026-11-30 (0 working days after 2026-11-29)"
    assert "due at: 2026-11-30T23:59:59.999999+05:00 Asia/Almaty" in out
    assert "2026-11-29 Sunday" in out
    if calendar.TRANSFERS_KNOWN_THROUGH < 2026:
        assert "no government transfer" in err


def test_due_date_command_accepts_an_aware_datetime_start():
    out, _ = run("2017-03-17T20:00:00+00:00", "1")
    assert out.splitlines()[0] == "due date: 2017-03-24 (1 working day after 2017-03-18)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("17.03.2017", "2"), "ISO date"),
        (("2017-02-30", "2"), "ISO date"),
        (("2017-03-17T20:00:00", "2"), "UTC offset"),
        (("2017-03-17", "-1"), "non-negative integer"),
        (("2017-03-17", "two"), "non-negative integer"),
        (("2017-03-17", "1.5"), "non-negative integer"),
        (("1980-01-01", "1"), "outside"),
    ],
)
def test_due_date_command_bad_input_exits_2(args, message):
    with pytest.raises(CommandError, match=message) as info:
        run(*args)
    assert info.value.returncode == 2
