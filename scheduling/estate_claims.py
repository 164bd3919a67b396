"""What scheduling tells the estate about its equipment (registered in SchedulingConfig.ready()).

theatre never imports scheduling, so it cannot see which cases claim a unit; it asks through
theatre.estate.register_unit_commitments instead.
"""

from __future__ import annotations

import datetime as dt

from scheduling.models import CaseEquipment
from theatre.models import EquipmentUnit


def unit_claims_after(*, unit: EquipmentUnit, now: dt.datetime) -> str | None:
    """Why `unit` must stay at its site: cases still claim it after `now` (else None).

    Those cases were booked into lists at this site with this unit; moving it would leave them
    holding equipment that is somewhere else on the day. A cancelled case's claims are already
    gone, so only live bookings count.
    """
    if CaseEquipment.objects.filter(unit=unit, end__gt=now).exists():
        return "This unit is claimed by upcoming cases at its site; release them before moving it."
    return None
