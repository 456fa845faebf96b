"""Reasons and comments the engine writes, kept as a code with parameters (docs/i18n.md,
"Codes stay data").

A person's comment is data and is shown as written. A text Kelisim itself composes (why a
cluster was not selected, why an application was refused, "case TC-2017/A1 suspended") is an
interface string: it is stored as ``{"code": ..., "params": {...}}`` (:func:`coded`) in the
audit entry's ``data["message"]`` and rendered in the reader's language when shown
(:func:`render`, :func:`entry_comment`), numbers with the language's decimal separator
(``57,75`` in kk and ru). The entry's ``comment`` still holds the English text
(:func:`english`), so exports, logs, the API and older readers keep a readable comment; older
entries, written before the codes, have only that comment and are shown as stored.

Shapes: ``params`` values are strings (JSON-safe; numbers as ``str(Decimal)``), keyed by the
placeholders of the code's text. An unknown code renders as the fallback text.
"""

from __future__ import annotations

import contextlib
import dataclasses
from decimal import Decimal, InvalidOperation

from django.utils import formats, translation
from django.utils.translation import gettext_lazy as _

#: The key of ``AuditEntry.data`` that holds a coded message.
DATA_KEY = "message"


@dataclasses.dataclass(frozen=True)
class Reason:
    """One code's text (a lazy msgid with ``%(name)s`` placeholders) and which of its
    parameters are numbers (shown with the language's separators; ``decimals`` places)."""

    text: object
    numbers: tuple[str, ...] = ()
    decimals: int | None = None
    #: ``(parameter, "app_label.model_name")``: the parameter lists field names (comma-separated),
    #: shown by the fields' ``verbose_name`` in the reader's language.
    fields: tuple[str, str] | None = None


#: Code -> :class:`Reason`. Scores are 0..100 with 2 decimals (``Selection.score``, ``Round.pass_mark``).
REASONS: dict[str, Reason] = {
    "score_reaches_pass_mark": Reason(_("Score %(score)s reaches the pass mark %(pass_mark)s; rank %(rank)s."),
                                      numbers=("score", "pass_mark"), decimals=2),
    "score_below_pass_mark": Reason(_("Score %(score)s is below the pass mark %(pass_mark)s."),
                                    numbers=("score", "pass_mark"), decimals=2),
    "rank_beyond_places": Reason(_("Rank %(rank)s is beyond the %(places)s places of the round.")),
    "rank_and_score": Reason(_("Rank %(rank)s, score %(score)s."), numbers=("score",), decimals=2),
    "excluded_sector": Reason(_("The sector \"%(sector)s\" is excluded from the round (%(excluded)s): non-oil pilots "
                                "only; oil and gas initiatives belong to the national cluster.")),
    "incomplete": Reason(_("Please complete: %(fields)s."), fields=("fields", "submission.application")),
    "complete_and_eligible": Reason(_("Complete and eligible.")),
    "case_suspended": Reason(_("Case %(case)s suspended.")),
    "case_resumed": Reason(_("Case %(case)s resumed.")),
}


def coded(code: str, **params) -> dict:
    """``{"code": code, "params": {name: str(value)}}`` for ``AuditEntry.data["message"]``.
    Raises ``KeyError`` for a code not in :data:`REASONS` (a typo must not reach the record)."""
    REASONS[code]  # noqa: B018  (fails for an unknown code)
    return {"code": code, "params": {name: "" if value is None else str(value) for name, value in params.items()}}


def _number(value: str, decimals: int | None) -> str:
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return value
    return formats.number_format(number, decimal_pos=decimals, use_l10n=True)


def _field_names(value: str, model: str) -> str:
    """``"region, city"`` -> the fields' ``verbose_name`` in the active language (an unknown
    name stays as it is)."""
    from django.apps import apps
    from django.core.exceptions import FieldDoesNotExist

    try:
        opts = apps.get_model(model)._meta
    except (LookupError, ValueError):
        return value
    names = []
    for name in (part.strip() for part in value.split(",") if part.strip()):
        try:
            names.append(str(opts.get_field(name).verbose_name))
        except FieldDoesNotExist:  # a field of an older version
            names.append(name)
    return ", ".join(names)


def render(message, *, language: str | None = None, fallback: str = "") -> str:
    """The text of a coded ``message`` (from :func:`coded`) in ``language`` (default: the
    active one), numbers with that language's decimal separator;
    ``fallback`` when ``message`` is not a known coded message."""
    if not isinstance(message, dict) or message.get("code") not in REASONS:
        return fallback
    reason = REASONS[message["code"]]
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    with translation.override(language) if language else contextlib.nullcontext():
        values = {}
        for name, value in params.items():
            value = str(value)
            if name in reason.numbers:
                value = _number(value, reason.decimals)
            elif reason.fields and name == reason.fields[0]:
                value = _field_names(value, reason.fields[1])
            values[name] = value
        try:
            return str(reason.text) % values
        except (KeyError, TypeError, ValueError):  # parameters of an older version of the text
            return fallback


def english(message) -> str:
    """The English text of a coded ``message``, for the entry's ``comment`` (exports, logs)."""
    return render(message, language="en")


def latest_message(*, chain: str, object_type: str, object_id, transitions) -> dict | None:
    """The coded message of the latest audit entry of the object (``object_type``, ``object_id``)
    on ``chain`` taking one of ``transitions``, or None (none, or written before the codes).
    One query."""
    from workflow.models import AuditEntry

    data = (AuditEntry.objects.filter(chain=chain, object_type=object_type, object_id=str(object_id),
                                      transition__in=list(transitions))
            .order_by("-seq").values_list("data", flat=True).first())
    message = data.get(DATA_KEY) if isinstance(data, dict) else None
    return message if isinstance(message, dict) else None


def entry_comment(entry) -> str:
    """What an audit entry says, in the active language: its coded message when it has one
    (``data["message"]``, or the annotation ``coded_message`` when ``data`` was not loaded),
    else its stored ``comment`` (a person's words, or an older entry). Never loads ``data``."""
    if "data" in entry.get_deferred_fields():
        message = getattr(entry, "coded_message", None)
    else:
        message = entry.data.get(DATA_KEY) if isinstance(entry.data, dict) else None
    return render(message, fallback=entry.comment) if message else entry.comment
