"""mindtrial.report."""
