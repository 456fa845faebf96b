"""Small template helpers of the portal."""

from django import template

from workflow.permissions import role_label as _role_label
from workflow.permissions import user_roles

register = template.Library()


@register.filter
def localized(obj, language: str) -> str:
    """A case's ``name(language)`` or a round's ``title(language)``, whichever it has."""
    for method in ("name", "title"):
        value = getattr(obj, method, None)
        if callable(value):
            return value(language)
    return str(obj)


@register.filter
def roles_of(user) -> str:
    """The names of the user's roles in the active language, sorted by code, comma-separated."""
    return ", ".join(_role_label(code) for code in sorted(user_roles(user)))


@register.filter
def role_label(code: str) -> str:
    """The name of the role ``code`` in the active language (e.g. ``expert`` -> «сарапшы»)."""
    return _role_label(code)


@register.filter
def transition_label(name: str) -> str:
    """``{{ option.name|transition_label }}``: the transition's label in the active language."""
    from processes.portal.labels import transition_label as label

    return label(name)


@register.filter
def state_label(code: str, object_type: str = "rounds.case") -> str:
    """``{{ entry.to_state|state_label:entry.object_type }}``: the state's label in the active
    language (the model is ``app_label.model_name``; default the case)."""
    from processes.portal.labels import state_label as label

    return label(code, object_type)


@register.filter
def grouped(value, decimal_pos=None):
    """``{{ amount|grouped }}`` / ``{{ amount|grouped:2 }}``: a number with the active language's
    thousand and decimal separators (``1 234 567,50`` in kk and ru, ``1,234,567.50`` in en),
    for amounts (KZT) and counts that need grouping; ``USE_THOUSAND_SEPARATOR`` stays off so that
    ids and years in forms are never grouped. A value that is not a number is returned as is."""
    from decimal import Decimal, InvalidOperation

    from django.utils.formats import get_format
    from django.utils.numberformat import format as number_format

    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return value
    places = int(decimal_pos) if decimal_pos not in (None, "") else None
    return number_format(number, get_format("DECIMAL_SEPARATOR"), places, get_format("NUMBER_GROUPING"),
                         get_format("THOUSAND_SEPARATOR"), force_grouping=True)


@register.filter
def notification_label(kind: str) -> str:
    """``{{ row.kind|notification_label }}``: what a notification is about, in the active language."""
    from processes.portal.labels import notification_label as label

    return label(kind)


@register.filter
def entry_comment(entry) -> str:
    """``{{ entry|entry_comment }}``: what an audit entry says in the active language: its coded
    message (engine-written reasons, :mod:`processes.reasons`), else its stored comment."""
    from processes.reasons import entry_comment as comment

    return comment(entry)


@register.filter
def decision_reason(selection) -> str:
    """``{{ selection|decision_reason }}``: why the commission decided as it did, in the active
    language (:func:`processes.selection.selectors.decision_text`; one query)."""
    from processes.selection.selectors import decision_text

    return decision_text(selection)


@register.simple_tag
def language_names() -> list[tuple[str, str]]:
    """``{% language_names as LANGUAGES %}``: ``settings.LANGUAGES`` as ``(code, name)``, each
    name in its own language (Қазақша, Русский, English) whatever the page's language: a
    reader who does not read the page finds their language (Django's
    ``get_available_languages`` would translate "English" to "Ағылшын")."""
    from django.conf import settings

    return list(settings.LANGUAGES)


@register.filter
def mib(size) -> str:
    """``{{ limit|mib }}``: a size limit in MiB (``25 MiB``), as every limit is shown on pages
    and in messages (:func:`processes.portal.files.mib`); a non-number is shown as it is."""
    from processes.portal.files import mib as as_mib

    if isinstance(size, bool) or not isinstance(size, int):
        return size
    return as_mib(size)


@register.filter
def binary_size(size) -> str:
    """``{{ version.size|binary_size }}``: a file's size in bytes, KiB, MiB or GiB (binary units,
    like the limits in MiB; Django's ``filesizeformat`` writes "MB" for mebibytes), one
    decimal, in the active language's number format: ``900 bytes``, ``35,8 KiB`` (kk, ru)."""
    from django.utils.formats import number_format
    from django.utils.translation import ngettext

    if isinstance(size, bool) or not isinstance(size, int):
        return size
    if size < 1024:
        return ngettext("%(size)s byte", "%(size)s bytes", size) % {"size": size}
    for unit, power in (("KiB", 1), ("MiB", 2), ("GiB", 3)):
        if size < 1024 ** (power + 1) or unit == "GiB":
            return f"{number_format(size / 1024 ** power, decimal_pos=1)}\xa0{unit}"
    return str(size)  # pragma: no cover - the loop always returns


@register.filter
def refusal_reason(application) -> str:
    """``{{ application|refusal_reason }}``: why a refused application was refused, in the active
    language (the coded message of its ``refuse`` entry, else the stored ``refusal_detail``);
    ``""`` unless it is refused. One query for a refused application, none otherwise."""
    from processes.reasons import latest_message, render

    if application is None or application.state != "refused":
        return ""
    message = latest_message(chain=application.case.ref, object_type="submission.application",
                             object_id=application.pk, transitions=("refuse", "lapse"))
    return render(message, fallback=application.refusal_detail) if message else application.refusal_detail
