from django.apps import AppConfig


class ProgrammeConfig(AppConfig):
    name = "mindtrial.web.programme"
    label = "programme"
    verbose_name = "Session calendar, curriculum and attendance"
