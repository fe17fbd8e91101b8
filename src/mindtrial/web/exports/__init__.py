"""exports app."""
