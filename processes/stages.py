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
_NUMBER = re.compile(r"\d{1,20}(\.\d+)?")


def parse_decimal(text: str, *, high: Decimal, places: int = 2) -> Decimal:
    """The number typed in ``text``: digits with an optional decimal comma or point, grouping
    spaces allowed (``15 000 000,50``); from 0 to ``high`` with at most ``places`` decimals,
    returned with exactly ``places`` decimals. Raises ``ValueError`` with a translated message (no sign, no exponent, nothing else)."""
    cleaned = _GROUPING.sub("", (text or "").strip()).replace(",", ".")
    number = None
    if cleaned.isascii() and _NUMBER.fullmatch(cleaned):
        try:
            number = Decimal(cleaned)
        except InvalidOperation:  # pragma: no cover - the pattern admits only digits
            number = None
    step = Decimal(1).scaleb(-places)
    if number is None or number > high or number != number.quantize(step):
        raise ValueError(_("must be a number from 0 to %(high)s with at most 2 decimals") % {
            "high": f"{high:,.2f}".replace(",", "\u00a0")})
    return number.quantize(step)  # as the API's DecimalField gives it: 15000000.00


_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def parse_date(text: str) -> dt.date:
    """The calendar date typed in ``text``: ``dd.mm.yyyy`` (as shown) or ``yyyy-mm-dd`` (ISO).
    Raises ``ValueError`` with a translated message for anything else (31.02.2018 too)."""
    text = (text or "").strip()
    try:
        if match := _DOTTED.fullmatch(text):
            day, month, year = map(int, match.groups())
            return dt.date(year, month, day)
        if match := _ISO.fullmatch(text):
            year, month, day = map(int, match.groups())
            return dt.date(year, month, day)
    except ValueError:
        pass
    raise ValueError(_("must be a date: dd.mm.yyyy (or yyyy-mm-dd)"))


def show_date(value: dt.date | None) -> str:
    """``value`` as the forms show it: ``dd.mm.yyyy`` (empty for ``None``)."""
    return value.strftime("%d.%m.%Y") if value else ""


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
        problems[name] = _("at most %(limit)s characters") % {"limit": limit}
    return text
