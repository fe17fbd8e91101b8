from django.apps import AppConfig


class ToxicologyConfig(AppConfig):
    name = "mindtrial.web.toxicology"
    label = "toxicology"
    verbose_name = "Observed toxicology tests"
