"""mindtrial.outcomes."""
