"""Real files for the upload and dossier tests: Word, Excel, macro-enabled packages, images, a zip bomb.

Every builder returns ``bytes``. The zip bomb is built from a streamed generator of zeros, so
building it needs neither the gigabytes it declares nor much time.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
VBA_PROJECT = "application/vnd.ms-office.vbaProject"


def make_docx(text: str = "Өтінім №5") -> bytes:
    """A real Word document made with python-docx."""
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def rewrite_zip(content: bytes, *, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None,
                drop: tuple[str, ...] = ()) -> bytes:
    """A copy of the ZIP ``content`` with members replaced, added or dropped."""
    replace, add = replace or {}, add or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename in drop:
                continue
            target.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
        for name, data in add.items():
            target.writestr(name, data)
    return out.getvalue()


def make_docm(*, content_type: bool = True, vba_part: bool = True) -> bytes:
    """A macro-enabled Word package (what Word saves as .docm): the main part declared
    ``macroEnabled`` in ``[Content_Types].xml`` and a ``word/vbaProject.bin`` (either can be
    left out to test each signal alone)."""
    docx = make_docx("macro")
    with zipfile.ZipFile(io.BytesIO(docx)) as archive:
        types = archive.read("[Content_Types].xml").decode()
        rels = archive.read("word/_rels/document.xml.rels").decode()
    add = {}
    if content_type:
        types = types.replace(DOCX_MAIN, DOCM_MAIN)
    if vba_part:
        types = types.replace("</Types>", f'<Default Extension="bin" ContentType="{VBA_PROJECT}"/></Types>')
        rels = rels.replace("</Relationships>", '<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/'
                            'office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>')
        add["word/vbaProject.bin"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024  # an OLE2 VBA storage
    return rewrite_zip(docx, replace={"[Content_Types].xml": types.encode(),
                                      "word/_rels/document.xml.rels": rels.encode()}, add=add)


def make_xlsx(*, macro: bool = False) -> bytes:
    """A minimal SpreadsheetML workbook (one empty sheet); ``macro`` makes it an .xlsm."""
    main = ("application/vnd.ms-excel.sheet.macroEnabled.main+xml" if macro
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{main}"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '</Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>'),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


def make_png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG image (all white)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff" * (3 * width) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


#: The head of a JPEG file (SOI, APP0/JFIF) followed by filler; enough for type detection.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2048


def _zeros(total: int, chunk: int = 1024 * 1024):
    while total > 0:
        n = min(chunk, total)
        yield bytes(n)
        total -= n


def make_zip_bomb(*, kernel_bytes: int = 34 * 1024 * 1024, copies: int = 120) -> bytes:
    """An overlapping-entry zip bomb dressed as a .docx, about 42 KB.

    One member of ``kernel_bytes`` zeros is deflated at level 9 (about 1000:1, streamed from
    a generator); the central directory then lists ``copies`` entries that all point at
    that one compressed stream, so an extractor that trusts the directory writes
    ``copies * kernel_bytes`` bytes (4 GiB with the defaults). A real ``[Content_Types].xml``
    of a Word document comes first, as in an ordinary .docx.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", make_docx_types(), compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("word/document.xml")
        info.compress_type = zipfile.ZIP_DEFLATED
        info._compresslevel = 9  # noqa: SLF001 - zipfile reads the level from the ZipInfo
        with archive.open(info, "w") as member:
            for block in _zeros(kernel_bytes):
                member.write(block)
    data = out.getvalue()
    return _duplicate_last_central_entry(data, copies)


def make_docx_types() -> bytes:
    """The ``[Content_Types].xml`` of a plain Word document."""
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/word/document.xml" ContentType="{DOCX_MAIN}"/></Types>').encode()


def _duplicate_last_central_entry(data: bytes, copies: int) -> bytes:
    """Repeat the last central-directory record ``copies`` times (names ``word/mediaN.bin``),
    all pointing at the same local data, and fix the end-of-central-directory record."""
    eocd_at = data.rfind(b"PK\x05\x06")
    (_, _, _, count, _, cd_size, cd_offset, comment_len) = struct.unpack("<IHHHHIIH", data[eocd_at:eocd_at + 22])
    central = data[cd_offset:cd_offset + cd_size]
    records, at = [], 0
    while at < len(central):
        name_len, extra_len, comment = struct.unpack("<HHH", central[at + 28:at + 34])
        end = at + 46 + name_len + extra_len + comment
        records.append(central[at:end])
        at = end
    last = records[-1]
    name_len = struct.unpack("<H", last[28:30])[0]
    clones = []
    for n in range(copies):
        name = f"word/media{n:03d}.bin".encode()
        clones.append(last[:28] + struct.pack("<H", len(name)) + last[30:46] + name + last[46 + name_len:])
    new_central = b"".join(records[:-1] + clones)
    total = len(records) - 1 + copies
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, total, total, len(new_central), cd_offset, comment_len)
    return data[:cd_offset] + new_central + eocd + data[eocd_at + 22:]
