from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "mindtrial.web.exports"
    label = "exports"
    verbose_name = "Study dataset export and load"
