"""What several benchmarks seed alike: anonymous bench patients, in one INSERT."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the models load only once the bench has set up Django
    from scheduling.models import Patient


def bench_patients(count: int, *, contact: bool = False, batch_size: int | None = None) -> list[Patient]:
    """`count` patients "Bench Patient n" (made-up NHS numbers and MRNs); with `contact`, each
    with an email address and a mobile number, so booking plans reminders on both channels."""
    from scheduling.models import Patient

    return Patient.objects.bulk_create(
        (
            Patient(
                nhs_number=f"B{n:09d}",
                mrn=f"BENCH{n:07d}",
                given_name="Bench",
                family_name=f"Patient {n}",
                date_of_birth=dt.date(1945, 1, 1),
                email=f"patient{n}@example.org" if contact else "",
                phone=f"+4477009{n:05d}" if contact else "",
            )
            for n in range(count)
        ),
        batch_size=batch_size,
    )
