"""Running a protocol's analysis plan: frames, summaries and result types."""
