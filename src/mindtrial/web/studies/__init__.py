"""Studies made from protocols: sites, cohorts, groups and the concealed allocation list."""
