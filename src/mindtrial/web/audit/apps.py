from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "mindtrial.web.audit"
    label = "audit"
    verbose_name = "Audit trail"
