from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mindtrial.web.accounts"
    label = "accounts"
    verbose_name = "Staff accounts"
