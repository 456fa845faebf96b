"""The API's JSON parser: DRF's, refusing what cannot be stored faithfully.

Python's ``json`` accepts, and DRF's parser passes on, some JSON that the database or the
audit chain's canonical JSON cannot hold: numbers that overflow to infinity (``1e400``),
lone UTF-16 surrogates (``"\\ud800"``, which cannot be encoded as UTF-8), and nesting deep
enough to exhaust Python's recursion limit. Each is a 400 ``parse_error`` here, before any
view sees the data, instead of a failure deep in a save.
"""

from __future__ import annotations

import math

from django.utils.translation import gettext
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

#: The deepest nesting of arrays and objects accepted in a request body.
MAX_DEPTH = 32


def check_json_value(value) -> None:
    """Raise ``ParseError`` when ``value`` (parsed JSON) nests deeper than :data:`MAX_DEPTH`,
    holds a non-finite number or a string (or key) with a lone surrogate."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise ParseError(gettext("JSON nested deeper than %(levels)s levels") % {"levels": MAX_DEPTH})
            children = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            for key, child in children:
                if key is not None:
                    stack.append((key, depth + 1))
                stack.append((child, depth + 1))
        elif isinstance(item, float) and not math.isfinite(item):
            raise ParseError(gettext("JSON numbers must be finite (this one overflows)"))
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ParseError(gettext("JSON strings must be valid Unicode (a lone surrogate was sent)")) from exc


class SafeJSONParser(JSONParser):
    """DRF's ``JSONParser`` plus :func:`check_json_value`; nesting too deep for Python's own
    parser is a ``ParseError`` too."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(gettext("JSON nested deeper than %(levels)s levels") % {"levels": MAX_DEPTH}) from exc
        check_json_value(data)
        return data
