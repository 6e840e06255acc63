from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _

from reservations.shared_cache import offices_changed


class ReservationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reservations"
    verbose_name = _("オンライン職業相談の予約")

    def ready(self) -> None:
        # Pages keep offices in the shared cache (reservations/offices.py).
        office = self.get_model("Office")
        post_save.connect(offices_changed, sender=office, dispatch_uid="office-saved")
        post_delete.connect(offices_changed, sender=office, dispatch_uid="office-deleted")
