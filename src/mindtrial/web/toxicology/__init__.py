"""toxicology app."""
