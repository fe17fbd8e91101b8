from django.apps import AppConfig


class CheckinConfig(AppConfig):
    name = "mindtrial.web.checkin"
    label = "checkin"
    verbose_name = "Participant check-in"
