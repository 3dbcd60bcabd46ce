"""Access-aware full-text search over topics, messages, notes and document metadata."""
