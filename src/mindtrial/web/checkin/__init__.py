"""checkin app."""
