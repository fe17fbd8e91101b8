"""mindtrial.web."""
