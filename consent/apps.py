from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _

from reservations.shared_cache import offices_changed


class ConsentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "consent"
    verbose_name = _("利用規約と同意")

    def ready(self) -> None:
        # Pages keep the published terms in the shared cache (reservations/offices.py).
        termsversion = self.get_model("TermsVersion")
        post_save.connect(offices_changed, sender=termsversion, dispatch_uid="termsversion-saved")
        post_delete.connect(
            offices_changed, sender=termsversion, dispatch_uid="termsversion-deleted"
        )
