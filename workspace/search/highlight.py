"""Safe highlighted snippets: the database marks matches with random sentinels, we escape.

ts_headline (PostgreSQL) and FTS5 snippet() (SQLite) return the row's own text with
markers around matches. They do not escape HTML, so the markers are random per search
(a user cannot plant them in a message), the whole text is HTML-escaped, and only then
are the sentinel pairs turned into <mark> elements. A stray sentinel is dropped.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def _token() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Sentinels:
    """Random, alphanumeric (so escaping leaves them alone) match markers for one search."""

    start: str = field(default_factory=lambda: f"HLS{_token()}")
    stop: str = field(default_factory=lambda: f"HLE{_token()}")

    def render(self, text: str | None) -> SafeString:
        escaped = str(escape(text or ""))
        pair = re.compile(f"{self.start}(.*?){self.stop}", re.DOTALL)
        marked = pair.sub(lambda m: f"<mark>{m.group(1)}</mark>", escaped)
        return mark_safe(marked.replace(self.start, "").replace(self.stop, ""))  # noqa: S308
