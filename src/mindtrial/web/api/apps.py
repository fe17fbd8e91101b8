from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "mindtrial.web.api"
    label = "api"
    verbose_name = "JSON API"
