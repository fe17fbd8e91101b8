from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "mindtrial.web.dashboards"
    label = "dashboards"
    verbose_name = "Dashboards"
