from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases"

    def ready(self) -> None:
        from . import revisions, selectors

        revisions.register(selectors.QUEUES_REVISION, selectors.queues_revision_sql, read_by=["api"])
