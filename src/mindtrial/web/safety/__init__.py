"""safety app."""
