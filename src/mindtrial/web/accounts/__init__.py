"""Staff users, their roles and API tokens."""
