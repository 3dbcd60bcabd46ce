"""Type sniffing from the first plaintext bytes, against an allow-list with extensions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileType:
    content_type: str
    extensions: tuple[str, ...]


PDF = FileType("application/pdf", (".pdf",))
PNG = FileType("image/png", (".png",))
JPEG = FileType("image/jpeg", (".jpg", ".jpeg"))
ZIP_OFFICE = FileType(
    "application/zip",
    (".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".zip"),
)
OLE = FileType("application/x-ole-storage", (".doc", ".xls", ".ppt"))
TEXT = FileType("text/plain", (".txt", ".csv", ".md", ".json"))

OFFICE_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".zip": "application/zip",
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
    ".csv": "text/csv",
    ".md": "text/markdown",
    ".json": "application/json",
}

ALLOWED_EXTENSIONS = sorted(
    {ext for t in (PDF, PNG, JPEG, ZIP_OFFICE, OLE, TEXT) for ext in t.extensions}
)


def sniff(head: bytes) -> FileType | None:
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"PK\x03\x04") or head == b"PK\x05\x06" + head[4:]:
        return ZIP_OFFICE
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return OLE
    if _looks_like_text(head):
        return TEXT
    return None


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    sample = head[:8192]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sample's end is still text.
        if exc.start < len(sample) - 3:
            return False
    return True


def content_type_for(head: bytes, filename: str) -> str | None:
    """The content type if the magic bytes and the extension agree; else None."""
    found = sniff(head)
    ext = ("." + filename.rsplit(".", 1)[-1].lower()) if "." in filename else ""
    if found is None or ext not in found.extensions:
        return None
    return OFFICE_TYPES.get(ext, found.content_type)
