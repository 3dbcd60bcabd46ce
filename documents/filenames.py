"""Display filenames: whatever the browser sent, made safe to show and to download as."""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 150
WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def safe_filename(name: str) -> str:
    """A filename without paths, control or bidi characters, reserved names or excess length.

    It is only ever a display name and the download name: blobs live at
    server-generated paths, so no filename reaches the filesystem.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    # Cc: controls incl. NUL; Cf: format chars incl. RTL/LTR overrides and zero-width.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    name = name.strip().strip(".").strip()
    if WINDOWS_RESERVED.match(name):
        name = "_" + name
    if len(name) > MAX_LENGTH:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_LENGTH - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_LENGTH]
    return name or "document"
