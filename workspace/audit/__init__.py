"""The append-only, SHA-256-chained audit log."""
