"""Writing audit events (stub)."""

from __future__ import annotations

from typing import Any


def audit_record(*, action: str, actor: Any = None, request: Any = None, **kwargs: Any) -> None:
    return None
