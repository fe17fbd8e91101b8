from django.apps import AppConfig


class QueriesConfig(AppConfig):
    name = "mindtrial.web.queries"
    label = "queries"
    verbose_name = "Data queries"
