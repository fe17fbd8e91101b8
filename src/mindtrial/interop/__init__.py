"""mindtrial.interop."""
