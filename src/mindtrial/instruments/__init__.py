"""mindtrial.instruments."""
