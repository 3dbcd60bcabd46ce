"""Document models (filled by the documents issue)."""
