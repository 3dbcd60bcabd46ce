"""Audit events (stub; replaced by the audit implementation)."""
