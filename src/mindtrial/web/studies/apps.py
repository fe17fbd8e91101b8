from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "mindtrial.web.studies"
    label = "studies"
    verbose_name = "Studies"
