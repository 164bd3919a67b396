"""`manage.py seed_demo`: the demo data `make run` loads. Safe to run again: it never duplicates."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from core.demo import DEMO_USERS, demo_password, demo_token, seed_users
from scheduling.demo import preview_demo_fill, seed_cases, seed_plan_demo
from scheduling.demo_history import HISTORY_WEEKS, seed_history
from theatre.demo import seed_estate


class Command(BaseCommand):
    help = "Load idempotent demo data: logins per role, the spinal unit's estate, lists and cases."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            seed_users()
            estate = seed_estate()
        self.stdout.write(
            f"Estate: {estate['site'].name}, {len(estate['theatres'])} theatres; "
            f"{len(estate['created'])} lists created, {len(estate['locked'])} locked (6-4-2)."
        )
        waiting_list = seed_cases()
        self.stdout.write(f"Waiting list: {waiting_list['created']} cases added, {waiting_list['booked']} booked.")
        plan_demo = seed_plan_demo()
        self.stdout.write(
            f"Case plans: {plan_demo['completed'].reference} approved and through the WHO checklist (completed); "
            f"{plan_demo['withdrawn'].reference} approval withdrawn by a later move."
        )
        history = seed_history()
        self.stdout.write(
            f"History: {history['lists']} past lists over {HISTORY_WEEKS} weeks, {history['cases']} cases completed "
            f"with their theatre times, {history['cancelled_on_the_day']} cancelled on the day "
            "(see /api/v1/reports/theatre-utilisation/)."
        )
        demo_fill = preview_demo_fill()
        left = ", ".join(f"{n} {code}" for code, n in sorted(demo_fill.codes.items())) or "none"
        self.stdout.write(
            f"List fill: a preview of next month's lists ({demo_fill.date_from:%d %b}-{demo_fill.date_to:%d %b %Y}) "
            f"places {demo_fill.placed} of the {demo_fill.waiting} waiting cases (left waiting: {left}); "
            f'POST /api/v1/fill/ {{"date_from": "{demo_fill.date_from}", "date_to": "{demo_fill.date_to}"}} shows it.'
        )
        self.stdout.write(self.style.SUCCESS("Demo logins (username / password / API token):"))
        for username, (role, display) in DEMO_USERS.items():
            who = f"{role or 'admin'} ({display})"
            self.stdout.write(f"  {username:<13} / {demo_password(username):<18} / {demo_token(username)}  {who}")
