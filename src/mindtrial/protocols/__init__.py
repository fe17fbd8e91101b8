"""mindtrial.protocols."""
