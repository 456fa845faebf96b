"""Render Word documents from ``.docx`` templates with docxtpl (always ``autoescape=True``).

Templates live in ``documents/docx/{language}/{kind}.docx`` and are built by
``documents/templates_src/build.py``; ``documents/docx/VERSION`` holds the template set's
version, recorded on every generated version.
"""

from __future__ import annotations

import functools
import io
import re
from pathlib import Path
from typing import Any

from docxtpl import DocxTemplate

TEMPLATE_DIR = Path(__file__).resolve().parent / "docx"
DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# XML 1.0 forbids these characters; a Word file containing them does not open.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class TemplateMissing(LookupError):
    """No template exists for the requested kind and language."""


@functools.cache
def template_version() -> str:
    """The version string of the shipped template set (``documents/docx/VERSION``)."""
    path = TEMPLATE_DIR / "VERSION"
    return path.read_text(encoding="utf-8").strip() if path.exists() else "unversioned"


def template_path(kind: str, language: str) -> Path:
    """Return the template file for ``kind`` in ``language``; raises :class:`TemplateMissing`."""
    path = TEMPLATE_DIR / language / f"{kind}.docx"
    if not path.is_file():
        raise TemplateMissing(f"no template for document kind {kind!r} in language {language!r}")
    return path


def clean(value: Any) -> Any:
    """Return ``value`` with XML-illegal control characters removed from every string in it."""
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def render_docx(kind: str, language: str, context: dict[str, Any]) -> bytes:
    """Render the ``kind`` template in ``language`` with ``context``; return the .docx bytes.

    Values are escaped by docxtpl (``& < > "`` come out literally). Raises
    :class:`TemplateMissing`, and docxtpl/Jinja errors for a broken template.
    """
    template = DocxTemplate(template_path(kind, language))
    template.render(clean(context), autoescape=True)
    buffer = io.BytesIO()
    template.save(buffer)
    return buffer.getvalue()
