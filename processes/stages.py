"""What the stage objects after selection share between the API and the portal's forms.

The diagnosis, the development plan and the support measure are created and filled by a
coordinator either over the API (``api/stages.py``) or with the case page's forms
(``processes/portal/stages.py``). Both take the same path through the functions of
:mod:`processes.diagnosis.forms`, :mod:`processes.planning.forms` and
:mod:`processes.support.forms` (limits, checks, writes, audit entries); this module holds the
pieces those three share: the refusal of bad values (:class:`StageInvalid`), the audit entry of
a change that is not a transition (:func:`audit_content`) and the parsing of what a person
types into a form (amounts with grouping spaces and a decimal comma, dates as dd.mm.yyyy).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from workflow import audit


class StageInvalid(ValueError):
    """Values refused by a stage form; ``problems`` maps a field name (``title``,
    ``row-2-budget_kzt``, ``areas``, ...) to a message. Answered with HTTP 400, nothing saved."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


def audit_content(obj, transition: str, actor, data: dict) -> None:
    """Append a ``transition`` entry (``created``, ``content_changed``) for ``obj`` to its case's
    audit chain, with ``data``; the state does not change (``from_state == to_state``)."""
    audit.append_entry(chain=obj.audit_chain, actor=actor, object_type=obj._meta.label_lower, object_id=str(obj.pk),
                       object_repr=str(obj), transition=transition, from_state=obj.state, to_state=obj.state,
                       data=data)


#: Grouping characters a person may type inside a number: space, no-break space, narrow no-break
#: space, thin space, apostrophe.
_GROUPING = re.compile(r"[ \u00a0\u202f\u2009']")
#: What is left once the grouping spaces are gone: ASCII digits with commas and points (at
#: most 40 characters; the limits refuse anything longer anyway).
_NUMBER = re.compile(r"[0-9][0-9.,]{0,39}", re.ASCII)
#: Groups of three digits after the first group of one to three (``1,000,000`` / ``1.000.000``).
_GROUPED = re.compile(r"[0-9]{1,3}(?:[.,][0-9]{3})+", re.ASCII)
#: The decimal separator of each page language (the grouping one is the other mark, or a space):
#: what :func:`show_number` writes (Django's formats: ``settings/formats``, ru from Django).
DECIMAL_MARK = {"en": "."}


def _decimal_mark(language: str | None) -> str:
    return DECIMAL_MARK.get((language or "en")[:2], ",")


def show_number(value, places: int = 2, language: str | None = None) -> str:
    """``value`` (a ``Decimal`` or int) written as the page language writes numbers, grouped:
    ``9,999,999,999,999.99`` (en), ``9 999 999 999 999,99`` (ru, kk; no-break spaces), with
    ``places`` decimals. ``language`` defaults to the active one."""
    from django.utils import formats, translation

    with translation.override(language or translation.get_language()):
        return formats.number_format(Decimal(value), places, use_l10n=True, force_grouping=True)


def parse_decimal(text: str, *, high: Decimal, places: int = 2, language: str | None = None) -> Decimal:
    """The number typed in ``text``, from 0 to ``high`` with at most ``places`` decimals,
    returned with exactly ``places`` decimals (as the API's DecimalField gives it: ``15000000.00``).

    Accepted: ASCII digits only (as dates, :func:`parse_date`: the pages show ASCII digits and
    the kk/ru/en keyboards type them; other scripts' digits are refused, not read); grouping by
    spaces (also no-break, narrow and thin ones) or apostrophes anywhere; a decimal point or
    comma followed by one or two digits (``15000000,5``, ``0.50``); the page language's own
    format as the pages show it (en ``1,000,000.50``, ru/kk ``1 000 000,50``); groups of three
    marked by the other sign than the decimal one (``1.000.000,50``, ``1,000,000``).
    Refused, with a translated message: a sign, an exponent, other characters; and an
    *ambiguous* number, one comma or point followed by exactly three digits (``1,000``,
    ``15.000``: a thousands separator or a decimal one?) unless it is the page language's
    grouping mark (en ``1,000`` is a thousand), so that nothing becomes 1.00 silently.
    The limit in the message is written in the page language's format (:func:`show_number`).
    ``language`` defaults to the active one. Raises ``ValueError`` (translated message)."""
    from django.utils import translation

    language = language or translation.get_language()
    mark = _decimal_mark(language)
    refused = ValueError(_("must be a number from 0 to %(high)s with at most %(places)s decimals") % {
        "high": show_number(high, places, language), "places": places})
    cleaned = _GROUPING.sub("", (text or "").strip())
    if not (cleaned.isascii() and _NUMBER.fullmatch(cleaned)) or cleaned[-1] in ".,":
        raise refused
    separators = [c for c in cleaned if c in ".,"]
    if not separators:
        digits = cleaned
    elif len(set(separators)) == 2:  # both: the last one is the decimal mark, the other groups
        decimal_sign = separators[-1]
        whole, _sep, fraction = cleaned.rpartition(decimal_sign)
        if decimal_sign in whole or not _GROUPED.fullmatch(whole):
            raise refused
        digits = whole.replace("," if decimal_sign == "." else ".", "") + "." + fraction
    elif len(separators) > 1:  # one sign more than once: it groups (1.000.000)
        if not _GROUPED.fullmatch(cleaned):
            raise refused
        digits = cleaned.replace(separators[0], "")
    else:
        whole, sign, fraction = cleaned.partition(separators[0])
        if len(fraction) == 3:
            if not (sign == "," and mark == "." and _GROUPED.fullmatch(cleaned)):  # en 1,000 is a thousand
                example = {"text": cleaned, "thousands": show_number(Decimal(whole + fraction), 0, language),
                           "places": places}
                raise ValueError(_("“%(text)s” is ambiguous (a thousands separator or a decimal one?): write "
                                   "%(thousands)s for the thousands; at most %(places)s decimals") % example)
            digits = whole + fraction
        else:
            digits = f"{whole}.{fraction}"
    try:
        number = Decimal(digits)
    except InvalidOperation:  # pragma: no cover - the patterns admit only digits and one point
        raise refused from None
    step = Decimal(1).scaleb(-places)
    if number > high or number != number.quantize(step):
        raise refused
    return number.quantize(step)


#: The range of years a deadline or other plan date may have: a plan is drafted for the
#: coming years, and the audit search reads years 1900-9998 only (docs/stage-forms.md).
FIRST_YEAR, LAST_YEAR = 2000, 2100
_DOTTED = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})", re.ASCII)
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)


def date_problem(value: dt.date) -> str | None:
    """The problem of a calendar date outside the years :data:`FIRST_YEAR` to
    :data:`LAST_YEAR` (a translated message), or ``None``. The API's checks use it too."""
    if FIRST_YEAR <= value.year <= LAST_YEAR:
        return None
    return _("must be a date in the years %(first)s to %(last)s") % {"first": FIRST_YEAR, "last": LAST_YEAR}


def parse_date(text: str) -> dt.date:
    """The calendar date typed in ``text``: ``dd.mm.yyyy`` (as shown) or ``yyyy-mm-dd`` (ISO),
    ASCII digits only (as amounts, :func:`parse_decimal`), in the years :data:`FIRST_YEAR` to
    :data:`LAST_YEAR`. Raises ``ValueError`` with a translated message for anything else
    (31.02.2018, 01.01.0001 and 31.12.9999 too)."""
    text = (text or "").strip()
    value = None
    try:
        if match := _DOTTED.fullmatch(text):
            day, month, year = map(int, match.groups())
            value = dt.date(year, month, day)
        elif match := _ISO.fullmatch(text):
            year, month, day = map(int, match.groups())
            value = dt.date(year, month, day)
    except ValueError:
        value = None
    if value is None:
        raise ValueError(_("must be a date: dd.mm.yyyy (or yyyy-mm-dd)"))
    if problem := date_problem(value):
        raise ValueError(problem)
    return value


def show_date(value: dt.date | None) -> str:
    """``value`` as the forms show it: ``dd.mm.yyyy`` (empty for ``None``)."""
    return f"{value.day:02d}.{value.month:02d}.{value.year:04d}" if value else ""


def show_decimal(value) -> str:
    """A stored amount as a form shows it: no trailing ``.00``, otherwise two decimals."""
    if value is None or value == "":
        return ""
    value = Decimal(value)
    return f"{value:.0f}" if value == value.to_integral() else f"{value:.2f}"


def parse_text(problems: dict, name: str, text, *, limit: int, required: bool) -> str:
    """``text`` stripped, or a problem under ``name`` when required and empty or longer than
    ``limit`` characters (control characters are refused earlier, by the middleware)."""
    text = (text or "").strip()
    if required and not text:
        problems[name] = _("required")
    elif len(text) > limit:
        problems[name] = _("at most %(limit)s characters") % {"limit": show_number(limit, 0)}  # 20 000, 20,000
    return text
