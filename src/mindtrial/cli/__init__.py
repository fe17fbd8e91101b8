"""mindtrial.cli."""
