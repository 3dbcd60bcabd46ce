"""Moderator insight: activity volume and membership by country, never content."""
