"""dashboards app."""
