"""mindtrial.design."""
