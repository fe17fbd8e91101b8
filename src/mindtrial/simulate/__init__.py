"""mindtrial.simulate."""
