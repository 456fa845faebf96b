"""Render Word documents from ``.docx`` templates with docxtpl (always ``autoescape=True``).

Templates live in ``documents/docx/{language}/{kind}.docx`` and are built by
``documents/templates_src/build.py``; ``documents/docx/VERSION`` holds the template set's
version, recorded on every generated version. ``docs/documents.md`` is the catalogue.

Text rules (:func:`clean`, applied to every string of every context, in this one place):

* values are escaped by Jinja's autoescape: ``& < > " «»`` and quotes come out literally;
* control characters that XML 1.0 forbids (everything below U+0020 except tab and newline,
  DEL, lone surrogates, U+FFFE/U+FFFF) are removed; ``\\r\\n`` and ``\\r`` become ``\\n``;
* a newline keeps its line: docxtpl turns ``\\n`` inside a rendered run into ``<w:br/>``
  (and ``\\t`` into ``<w:tab/>``) after escaping, so the text around it stays literal.

Speed: :func:`render_template` (used by :func:`render_docx`) does what
``DocxTemplate(path).render(context, autoescape=True); save()`` does, but only once per
template file (keyed by path, mtime and size): read the zip, patch the XML parts with docxtpl's
own ``patch_xml`` and compile them with Jinja. Each render then only runs the compiled
templates and writes a new zip in which every member that holds no placeholder is copied as
its original compressed bytes (``styles.xml`` alone is 350 kB of XML). Every rendered part
is parsed by lxml before it is written, so a template that renders broken XML raises
:class:`RenderError` instead of producing a file Word cannot open. Templates with features
the fast path does not cover (placeholders in the core properties) are rendered by
:func:`render_plain` (plain docxtpl) instead. ``bench/render.py`` checks that both give the
same text for every kind and language and measures the speed-up.
"""

from __future__ import annotations

import copy
import functools
import io
import re
import struct
import threading
import time
import zlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docx.opc.oxml import parse_xml
from docxtpl import DocxTemplate
from jinja2 import Environment
from lxml import etree
from markupsafe import Markup

TEMPLATE_DIR = Path(__file__).resolve().parent / "docx"
DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# XML 1.0 forbids these characters; a Word file containing them does not open. Tab (\x09),
# newline (\x0a) and carriage return (\x0d, normalised to \n first) are allowed.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_NEWLINES = re.compile(r"\r\n?")


class TemplateMissing(LookupError):
    """No template exists for the requested kind and language."""


class RenderError(ValueError):
    """A template rendered XML that does not parse (a broken template, not bad data)."""


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


def clean_text(text: str) -> str:
    """``text`` with line ends normalised to ``\\n`` and XML-illegal characters removed."""
    return _CONTROL.sub("", _NEWLINES.sub("\n", text))


def clean(value: Any) -> Any:
    """Return ``value`` with :func:`clean_text` applied to every string in it.

    Dicts, lists and tuples are walked (tuples come back as lists); ``Markup`` (already safe
    markup such as a docxtpl ``RichText``) and other objects are returned unchanged.
    """
    if isinstance(value, str):
        return value if isinstance(value, Markup) else clean_text(value)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def render_docx(kind: str, language: str, context: dict[str, Any]) -> bytes:
    """Render the ``kind`` template in ``language`` with ``context``; return the .docx bytes.

    See the module docstring for the text rules. Raises :class:`TemplateMissing`,
    :class:`RenderError`, and Jinja errors for a broken template.
    """
    from operations.metrics import RENDER_SECONDS, RENDERS

    start = time.perf_counter()
    content = render_template(template_path(kind, language), context)
    RENDER_SECONDS.labels(kind).observe(time.perf_counter() - start)
    RENDERS.labels(kind, language).inc()
    return content


def render_plain(path: Path | str, context: dict[str, Any]) -> bytes:
    """Render ``path`` with plain docxtpl, opening the file again (the baseline of ``make bench``).

    Same text rules as :func:`render_template` (the context goes through :func:`clean`).
    """
    template = DocxTemplate(str(path))
    template.render(clean(context), autoescape=True)
    buffer = io.BytesIO()
    template.save(buffer)
    return buffer.getvalue()


def render_template(path: Path | str, context: dict[str, Any]) -> bytes:
    """Render the template file ``path`` with ``context``; return the .docx bytes.

    The compiled template is cached per (path, mtime, size), so an edited file is picked up.
    Raises ``FileNotFoundError``, :class:`RenderError` and Jinja errors.
    """
    path = Path(path).resolve()
    stat = path.stat()
    compiled = _compiled(str(path), stat.st_mtime_ns, stat.st_size)
    if compiled is None:
        return render_plain(path, context)
    return compiled.render(clean(context))


def clear_cache() -> None:
    """Forget every compiled template (tests; templates rebuilt in a running process)."""
    _compiled.cache_clear()


# -- the compiled template ---------------------------------------------------------------------

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_XML_DECL = b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
_JINJA = re.compile(r"\{[{%#]")
# markers of docxtpl features that need its tree pass on the body (column loops, merges, pictures)
_TREE_FEATURES = re.compile(r"\{%-?\s*(tc|vm|hm|colspan|cellbg)\b|docPr")


@dataclass
class _Member:
    """One zip member: its name, date, compression method, crc, sizes and compressed bytes."""

    name: str
    date_time: tuple
    method: int
    crc: int
    compressed: bytes
    size: int
    external_attr: int


@dataclass
class _Part:
    """A rendered XML part: the Jinja template of its (patched) XML and what surrounds it."""

    template: Any
    head: bytes = b""
    tail: bytes = b""
    tree_pass: bool = False


class _Compiled:
    """A template file read, patched and compiled once; :meth:`render` makes a document."""

    def __init__(self, members: list[_Member], parts: dict[str, _Part]):
        self.members = members
        self.parts = parts

    def render(self, context: dict[str, Any]) -> bytes:
        rendered = {name: self._render_part(name, part, context) for name, part in self.parts.items()}
        return _write_zip(self.members, rendered)

    @staticmethod
    def _render_part(name: str, part: _Part, context: dict[str, Any]) -> bytes:
        xml = part.template.render(context)
        # what DocxTemplate.render_xml_part does after Jinja
        xml = re.sub(r"\n<w:p([ >])", r"<w:p\1", xml)
        xml = xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
        if "\n" in xml or "\t" in xml:
            xml = DocxTemplate.resolve_listing(None, xml)
        data = part.head + xml.encode("utf-8") + part.tail
        try:
            tree = etree.fromstring(data)
        except etree.XMLSyntaxError as exc:
            raise RenderError(f"the template's {name} rendered invalid XML: {exc}") from exc
        if part.tree_pass:  # docxtpl's table and picture-id fixes, only where the template needs them
            body = tree.find(f"{{{_W}}}body")
            fixed = DocxTemplate.fix_tables(None, etree.tostring(body, encoding="unicode"))
            helper = DocxTemplate.__new__(DocxTemplate)
            helper.docx_ids_index = 1000
            DocxTemplate.fix_docpr_ids(helper, fixed)
            tree.replace(body, fixed)
            data = etree.tostring(tree, encoding="UTF-8", standalone=True)
        return data


@functools.lru_cache(maxsize=128)
def _compiled(path: str, mtime_ns: int, size: int) -> _Compiled | None:
    """Read and compile ``path`` (the cache key includes mtime and size); ``None`` when the
    template needs plain docxtpl (see the module docstring)."""
    with _compile_lock:
        return _compile(Path(path))


_compile_lock = threading.Lock()


def _compile(path: Path) -> _Compiled | None:
    data = path.read_bytes()
    members = _read_members(data)
    tpl = DocxTemplate(io.BytesIO(data))
    tpl.init_docx()
    env = Environment(autoescape=True)  # what docxtpl's render(..., autoescape=True) creates

    core = tpl.docx.core_properties
    if any(_JINJA.search(getattr(core, p) or "") for p in ("author", "comments", "identifier", "language",
                                                           "subject", "title")):
        return None

    def compile_xml(src: str):
        src = tpl.patch_xml(src)
        return env.from_string(re.sub(r"<w:p([ >])", r"\n<w:p\1", src))

    parts: dict[str, _Part] = {}
    # the body: document.xml = head + rendered <w:body> + tail
    root = tpl.docx._element
    body_src = tpl.get_xml()
    shell = copy.deepcopy(root)
    shell.replace(shell.find(f"{{{_W}}}body"), etree.Element(f"{{{_W}}}body"))
    head, tail = etree.tostring(shell, encoding="UTF-8", standalone=True).split(b"<w:body/>")
    parts["word/document.xml"] = _Part(compile_xml(body_src), head, tail,
                                       tree_pass=bool(_TREE_FEATURES.search(body_src)))
    # headers, footers and footnotes: the whole part is the template
    for rel in tpl.docx.part.rels.values():
        if rel.is_external or rel.reltype not in (tpl.HEADER_URI, tpl.FOOTER_URI):
            continue
        part = rel.target_part
        name = str(part.partname).lstrip("/")
        src = tpl.xml_to_string(parse_xml(part.blob))
        if _JINJA.search(tpl.patch_xml(src)):  # after patching: "{" and "{" may sit in two runs
            parts[name] = _Part(compile_xml(src), _XML_DECL)
    for part in tpl.docx.part.package.parts:
        if part.content_type.endswith(".wordprocessingml.footnotes+xml"):
            src = part.blob.decode("utf-8") if isinstance(part.blob, bytes) else part.blob
            if _JINJA.search(tpl.patch_xml(src)):
                parts[str(part.partname).lstrip("/")] = _Part(compile_xml(src))
    return _Compiled(members, parts)


# -- zip: copy untouched members' compressed bytes, deflate the rendered ones --------------------

def _read_members(data: bytes) -> list[_Member]:
    members = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 0x1:
                raise RenderError(f"{info.filename}: unsupported zip member (method {info.compress_type})")
            offset = info.header_offset
            name_len, extra_len = struct.unpack("<HH", data[offset + 26:offset + 30])
            start = offset + 30 + name_len + extra_len
            members.append(_Member(info.filename, info.date_time, info.compress_type, info.CRC,
                                   data[start:start + info.compress_size], info.file_size,
                                   info.external_attr))
    return members


def _dos_time(date_time: tuple) -> tuple[int, int]:
    y, mo, d, h, mi, s = date_time
    return (h << 11) | (mi << 5) | (s // 2), ((max(y, 1980) - 1980) << 9) | (mo << 5) | d


def _write_zip(members: list[_Member], replaced: dict[str, bytes]) -> bytes:
    """A zip of ``members`` in their order, with the content of ``replaced`` (name -> bytes)
    deflated in place of theirs; the other members are copied compressed as they are."""
    out = io.BytesIO()
    central = []
    for m in members:
        if m.name in replaced:
            content = replaced[m.name]
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            compressed = compressor.compress(content) + compressor.flush()
            method, crc, size = zipfile.ZIP_DEFLATED, zlib.crc32(content), len(content)
        else:
            compressed, method, crc, size = m.compressed, m.method, m.crc, m.size
        name = m.name.encode("utf-8")
        flags = 0x800 if not m.name.isascii() else 0
        dos_time, dos_date = _dos_time(m.date_time)
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, dos_time, dos_date, crc,
                              len(compressed), size, len(name), 0))
        out.write(name)
        out.write(compressed)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, flags, method, dos_time,
                                   dos_date, crc, len(compressed), size, len(name), 0, 0, 0, 0,
                                   m.external_attr, offset) + name)
    start = out.tell()
    for entry in central:
        out.write(entry)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start,
                          start, 0))
    return out.getvalue()


# -- reading a document back (tests, bench) -----------------------------------------------------

def document_text(data: bytes) -> str:
    """The text of a .docx (python-docx): paragraphs, then every table cell (row by row),
    then headers and footers; one line each. Line breaks inside a paragraph are ``\\n``."""
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    for section in document.sections:
        parts.extend(p.text for p in section.header.paragraphs)
        parts.extend(p.text for p in section.footer.paragraphs)
    return "\n".join(parts)
