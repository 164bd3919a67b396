"""What scheduling tells the estate about its equipment (connected in SchedulingConfig.ready()).

theatre never imports scheduling, so it cannot see which cases claim a unit; it sends
theatre.estate.pre_unit_move before a unit changes site, and this receiver answers.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from core.errors import InvalidInput
from scheduling.models import CaseEquipment
from theatre.models import EquipmentUnit, Site


def refuse_moving_a_claimed_unit(sender: Any, *, unit: EquipmentUnit, site: Site, **kwargs: Any) -> None:
    """pre_unit_move: a unit claimed by upcoming cases stays at their site until they release it.

    Those cases were booked into lists at this site with this unit; moving it would leave them
    holding equipment that is somewhere else on the day. A cancelled case's claims are already
    gone, so only live bookings count.
    """
    if CaseEquipment.objects.filter(unit=unit, end__gt=timezone.now()).exists():
        raise InvalidInput("site", "This unit is claimed by upcoming cases at its site; release them before moving it.")
