"""The JSON API (django-ninja) over the same services and selectors as the pages."""
