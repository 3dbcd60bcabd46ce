"""Topics, messages, modus-operandi notes and the real-time protocol."""
