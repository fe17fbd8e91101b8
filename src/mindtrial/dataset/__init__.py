"""mindtrial.dataset."""
