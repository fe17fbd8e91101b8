"""programme app."""
