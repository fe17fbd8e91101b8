"""mindtrial.analysis."""
