from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "workflow.approvals"
    label = "approvals"
    verbose_name = "Approvals"
