"""Networks, spaces, memberships, clearance, moderation and the one access rule."""
