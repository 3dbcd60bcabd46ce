"""Messaging models (filled by the real-time discussion issue)."""
