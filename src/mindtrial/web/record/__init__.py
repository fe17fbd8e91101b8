"""The participant's record: the home page and the corrections page over every app."""
