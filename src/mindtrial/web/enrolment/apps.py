from django.apps import AppConfig


class EnrolmentConfig(AppConfig):
    name = "mindtrial.web.enrolment"
    label = "enrolment"
    verbose_name = "Enrolment"
