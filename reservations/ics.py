"""Bookings as iCalendar files (.ics): one booking (attached to emails, offered on the booking
page) and a counselor's private feed of their sessions."""

from __future__ import annotations

from datetime import UTC
from urllib.parse import urlsplit

import icalendar
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from reservations.models import Counselor, EmailKind, EventKind, Reservation
from reservations.rules import Status
from reservations.templatetags.seeker_dates import format_date, format_time_range

_ICAL_STATUS = {
    Status.REQUESTED: "TENTATIVE",
    Status.CONFIRMED: "CONFIRMED",
    Status.ATTENDED: "CONFIRMED",
}


def reservation_ics(reservation: Reservation) -> bytes:
    """The session as a one-event calendar, times in UTC, in the seeker's language.

    The UID stays the same for the life of the booking and SEQUENCE counts its moves and new
    meeting links, so a calendar that imported an earlier copy updates the event instead of
    adding another.
    """
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    office = reservation.office
    language = reservation.language or settings.LANGUAGE_CODE
    with translation.override(language):
        # Outside Japanese: the English name and address, the Japanese ones beside them.
        name = office.name_in(language)
        if name != office.name:
            name = f"{name} ({office.name})"
        address = office.address_in(language)
        if address != office.address:
            address = f"{address} ({office.address})"
        summary = _("オンライン職業相談（%(office)s）") % {"office": office.name_in(language)}
        when = (
            f"{format_date(reservation.slot.starts_at)} "
            f"{format_time_range(reservation.slot.starts_at, reservation.slot.ends_at)}"
        )
        lines = [
            _("予約番号: %(reference)s") % {"reference": reservation.reference},
            # The calendar shows the event in the phone's zone; the text names the office's.
            _("日時: %(when)s（日本時間）") % {"when": when},
            _("予約の確認・キャンセル: %(url)s") % {"url": reservation.private_url},
            _("お問い合わせ・キャンセルのご連絡: %(office)s %(phone)s")
            % {"office": name, "phone": office.phone},
        ]
        if address:
            lines.append(address)
        if reservation.meeting_link_ready:
            lines.insert(2, _("参加用URL: %(url)s") % {"url": reservation.meeting_join_url})
            if reservation.meeting_passcode:
                lines.insert(3, _("パスコード: %(code)s") % {"code": reservation.meeting_passcode})
        # Art. 12(2): recording is forbidden; the reminder travels with the event.
        lines.append(_("相談の録画・録音は禁止です（利用規約第12条(2)）。"))

    calendar = icalendar.Calendar()
    calendar.add("prodid", f"-//{office.name}//{host}//JA")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", f"reservation-{reservation.reference}@{host}")
    event.add("dtstamp", timezone.now().astimezone(UTC))
    event.add("dtstart", reservation.slot.starts_at.astimezone(UTC))
    event.add("dtend", reservation.slot.ends_at.astimezone(UTC))
    # A new meeting link (a new host, rule 13) is a revision too.
    event.add(
        "sequence",
        reservation.events.filter(kind=EventKind.MOVED).count()
        + reservation.emails.filter(kind=EmailKind.MEETING_CHANGED).count(),
    )
    event.add("summary", summary)
    event.add("description", "\n".join(lines))
    event.add("status", _ICAL_STATUS.get(reservation.status, "CANCELLED"))
    if reservation.meeting_link_ready:
        event.add("location", reservation.meeting_join_url)
        event.add("url", reservation.meeting_join_url)
    calendar.add_component(event)
    return calendar.to_ical()


def counselor_feed_ics(counselor: Counselor, reservations: list[Reservation]) -> bytes:
    """A counselor's sessions as a calendar to subscribe to, in the staff's language.

    Each event carries the time, the platform and the booking reference only: the feed
    leaves the office for Outlook or Google Calendar, so nothing about the seeker (name,
    email, 求職番号, topic) is in it (rule 15). A session moved to someone else, cancelled
    or purged simply drops out at the next refresh.
    """
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    with translation.override(settings.LANGUAGE_CODE):
        name = _("オンライン職業相談（%(office)s）") % {"office": counselor.office.name}
        calendar = icalendar.Calendar()
        calendar.add("prodid", f"-//{counselor.office.name}//{host}//JA")
        calendar.add("version", "2.0")
        calendar.add("method", "PUBLISH")
        calendar.add("x-wr-calname", name)
        calendar.add("x-wr-timezone", "Asia/Tokyo")
        stamp = timezone.now().astimezone(UTC)
        for reservation in reservations:
            platform = reservation.get_platform_display()
            event = icalendar.Event()
            event.add("uid", f"session-{reservation.reference}@{host}")
            event.add("dtstamp", stamp)
            event.add("dtstart", reservation.slot.starts_at.astimezone(UTC))
            event.add("dtend", reservation.slot.ends_at.astimezone(UTC))
            event.add(
                "summary",
                _("相談 %(reference)s（%(platform)s）")
                % {"reference": reservation.reference, "platform": platform},
            )
            event.add(
                "description",
                "\n".join(
                    (
                        _("予約番号: %(reference)s") % {"reference": reservation.reference},
                        _("アプリ: %(platform)s") % {"platform": platform},
                    )
                ),
            )
            event.add("status", "CONFIRMED")
            event.add("class", "PRIVATE")
            calendar.add_component(event)
    return calendar.to_ical()
