"""Proposing a support measure: the limits and checks shared by the API
(``POST /api/support-measures/``, ``api/stages.py``) and the case page's form
(``/cases/<pk>/support/``, ``processes/portal/stages.py``); both then call
:func:`processes.support.services.propose_measure` (the measure goes to coordination at once,
one task per government body).

The rules: a title (at most 300 characters), an amount in KZT per year (0 to :data:`MAX_KZT`,
at most 2 decimals), the share reimbursed (0..100 percent, 2 decimals), an optional legal basis
(4000 characters) and 1 to :data:`MAX_BODIES` government bodies (300 characters each, each named
once: a body gives one position per measure).
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from django.utils.translation import gettext as _

from processes.planning.forms import MAX_KZT  # the same columns and limit: 15 exact digits, 2 after the point
from processes.stages import StageInvalid, parse_decimal, parse_text

#: The highest reimbursed share (percent).
MAX_PCT = Decimal(100)
#: The most government bodies a measure is sent to, and the longest name of one.
MAX_BODIES = 20
MAX_BODY = 300
#: The longest title and legal basis (characters).
MAX_TITLE = 300
MAX_LEGAL_BASIS = 4000


#: Cyrillic and Greek letters that look like Latin ones (after NFKC and casefolding), from
#: Unicode's confusables list (https://www.unicode.org/Public/security/latest/confusables.txt):
#: a body's name written with them is the same body as the Latin spelling.
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "і": "i", "ї": "i", "ј": "j", "к": "k", "м": "m",
    "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "ү": "y", "х": "x", "ѕ": "s",
    "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
})


def body_key(name: str) -> str:
    """What two names of one government body share: ``name`` in Unicode NFKC, casefolded,
    spaces collapsed, with Cyrillic/Greek letters that look like Latin ones mapped to those
    (:data:`_CONFUSABLES`): "Ministry А" (Cyrillic А) and "ministry  a" give one key."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(folded.split()).translate(_CONFUSABLES)


def body_problem(bodies: list[str]) -> str | None:
    """The problem of the list of government bodies, or ``None``: empty, too many, or one named
    twice (compared by :func:`body_key`: case, width forms, spaces and look-alike letters of
    another script ignored)."""
    if not bodies:
        return _("name at least one government body")
    if len(bodies) > MAX_BODIES:
        return _("at most %(limit)s government bodies") % {"limit": MAX_BODIES}
    seen = [body_key(b) for b in bodies]
    if len(set(seen)) != len(seen):
        return _("a government body is named twice")
    return None


def parse_measure(post) -> dict:
    """The measure the portal's form posts: ``title``, ``amount_kzt`` (grouping spaces and a
    decimal comma accepted), ``reimbursement_pct``, ``legal_basis`` and ``bodies`` (one per
    line of a text box, empty lines skipped). Returns the keyword arguments of
    ``propose_measure`` but ``case`` and ``actor``; raises
    :class:`~processes.stages.StageInvalid` naming every problem."""
    problems: dict[str, str] = {}
    values = {"title": parse_text(problems, "title", post.get("title"), limit=MAX_TITLE, required=True),
              "legal_basis": parse_text(problems, "legal_basis", post.get("legal_basis"), limit=MAX_LEGAL_BASIS,
                                        required=False)}
    for field, high in (("amount_kzt", MAX_KZT), ("reimbursement_pct", MAX_PCT)):
        raw = post.get(field, "")
        if not raw.strip():
            problems[field] = _("required")
            continue
        try:
            values[field] = parse_decimal(raw, high=high)
        except ValueError as exc:
            problems[field] = str(exc)
    bodies = [line.strip() for line in post.get("bodies", "").splitlines() if line.strip()]
    if any(len(b) > MAX_BODY for b in bodies):
        problems["bodies"] = _("at most %(limit)s characters") % {"limit": MAX_BODY}
    elif problem := body_problem(bodies):
        problems["bodies"] = problem
    values["bodies"] = bodies
    if problems:
        raise StageInvalid(problems)
    return values
