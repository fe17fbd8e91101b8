from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "mindtrial.web.safety"
    label = "safety"
    verbose_name = "Adverse events and withdrawals"
