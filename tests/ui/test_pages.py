"""Every page of the staff UI in real Chromium: accessible (axe, WCAG 2.2 AA), usable at 1280×800
and 1024×768, keyboard operable, times in the site's zone, plain words when the server cannot
be reached, and an expired session that loses no typing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from playwright.sync_api import Page, expect

from scheduling.models import Patient
from tests.builders.world import session_at
from tests.factories import PatientFactory, TheatreFactory
from tests.ui.conftest import Pages, check_accessibility, login, ready, screenshot
from tests.ui.world import UiWorld

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# "Tue 15 Dec, 08:30": how a coordinator reads a time.
COORDINATOR_TIME = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2}, \d{2}:\d{2}")


def fits_width(page: Page) -> bool:
    """No horizontal scrolling of the page itself (wide tables scroll inside their own box)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def populate(world: UiWorld) -> dict[str, int]:
    """A week ahead with a full-ish list, an approved case to open, and a waiting list."""
    booked = [
        world.booked_case(world.future, patient=PatientFactory(), levels=levels, priority=priority)
        for levels, priority in ((("T12", "L1"), "P2"), (("L2",), "P3"))
    ]
    world.approve(booked[0])
    # A second theatre with the other surgeon's afternoon list, and a locked list with no cases yet.
    day = world.future.start.date()
    theatre_2 = TheatreFactory(site=world.theatre.site, name="Theatre 2", capabilities=world.theatre.capabilities)
    afternoon = session_at(
        day + dt.timedelta(days=1), hour=13, theatre=theatre_2, surgeon=world.other_surgeon, period="pm"
    )
    world.booked_case(afternoon, surgeon_id=world.other_surgeon.pk, levels=("T11",))
    session_at(day + dt.timedelta(days=2), theatre=world.theatre, surgeon=world.surgeon, status="locked", period="am")
    for priority, days in (("P1", 2), ("P2", 25), ("P3", 70), ("P4", 140)):
        world.waiting_case(priority=priority, referral_date=timezone.localdate() - dt.timedelta(days=days))
    return {"case": booked[0].pk}


def test_every_page_is_accessible_fits_both_sizes_and_the_main_ones_are_screenshotted(
    world: UiWorld, pages: Pages
) -> None:
    ids = populate(world)
    week = world.future.start.date().isoformat()
    walk = [
        (f"/?week={week}", "board"),
        ("/waiting/", "waiting"),
        (f"/cases/{ids['case']}/", "case"),
        ("/patients/new/", "patient_new"),
        ("/cases/new/", "case_new"),
        ("/metrics/", "metrics"),
        ("/fill/", "fill"),
    ]
    page = pages.logged_in("coordinator")
    for path, name in walk:
        page.goto(path)
        ready(page, name)
        check_accessibility(page)
        assert fits_width(page), f"{path} scrolls sideways at 1280×800"
        if name in ("board", "waiting", "case"):
            screenshot(page, name if name != "case" else "case_plan")
        if name == "case":
            expect(page.locator("#summary")).to_contain_text(COORDINATOR_TIME)

    tablet = pages.logged_in("coordinator", width=1024, height=768)
    for path, name in walk[:3]:
        tablet.goto(path)
        ready(tablet, name)
        assert fits_width(tablet), f"{path} scrolls sideways at 1024×768"
        if name == "board":
            screenshot(tablet, "board_1024")

    logged_out = pages.new()
    logged_out.goto("/login/")
    check_accessibility(logged_out)


def test_the_board_is_keyboard_operable_and_shows_summer_times_in_the_sites_zone(world: UiWorld, pages: Pages) -> None:
    """A list at 08:00 London in July (07:00 UTC, BST) reads 08:00; Next week is reached by Tab."""
    july = dt.date(2027, 7, 5)  # a Monday in British Summer Time
    summer = session_at(july, theatre=world.theatre, surgeon=world.surgeon, anaesthetist=world.anaesthetist)
    assert summer.start.astimezone(dt.UTC).hour == 7
    page = pages.logged_in("viewer")
    page.goto(f"/?week={(july - dt.timedelta(days=7)).isoformat()}")
    ready(page, "board")
    expect(page.locator("body")).not_to_contain_text("08:00–13:00")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Next week →":
            break
    else:
        pytest.fail("Tab never reached Next week")
    page.keyboard.press("Enter")
    ready(page, "board")
    assert f"week={july.isoformat()}" in page.url
    expect(page.locator(f"article[data-session='{summer.pk}']")).to_contain_text("AM 08:00–13:00")
    expect(page.locator("#week-label")).to_have_text("Week of Mon 5 Jul")


def test_an_expired_session_goes_to_login_and_the_form_comes_back_filled(world: UiWorld, pages: Pages) -> None:
    page = pages.logged_in("coordinator")
    page.goto("/patients/new/")
    ready(page, "patient_new")
    page.get_by_label("NHS number").fill("9434765870")
    page.get_by_label("Hospital number (MRN)").fill("UI0002")
    page.get_by_label("Given name").fill("Clementina")
    page.get_by_label("Family name").fill("Braithwaite")
    page.get_by_label("Date of birth").fill("1950-01-31")
    Session.objects.all().delete()  # the session expires while they type

    page.get_by_role("button", name="Create patient").click()
    page.wait_for_url(re.compile(r"/login/\?next=%2Fpatients%2Fnew%2F$"))
    expect(page.locator("#expired")).to_contain_text("Your session expired")
    assert not Patient.objects.filter(nhs_number="9434765870").exists()

    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill("coordinator-ui-test")
    page.get_by_role("button", name="Log in").click()
    ready(page, "patient_new")
    expect(page.get_by_label("Given name")).to_have_value("Clementina")
    expect(page.get_by_label("Family name")).to_have_value("Braithwaite")
    expect(page.locator("#app")).to_contain_text("Your unsaved entries were restored")
    page.get_by_role("button", name="Create patient").click()
    ready(page, "case_new")
    assert Patient.objects.get(nhs_number="9434765870").family_name == "Braithwaite"


def test_an_unreachable_server_is_said_plainly_and_nothing_changes(world: UiWorld, pages: Pages) -> None:
    waiting = world.waiting_case()
    page = pages.logged_in("coordinator")
    page.goto("/waiting/")
    ready(page, "waiting")
    page.route("**/api/v1/**", lambda route: route.abort("connectionrefused"))
    page.locator(f"tr[data-case='{waiting.pk}']").get_by_role("button", name="Find slots").click()
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#offline")).to_contain_text("The server cannot be reached")
    expect(page.locator("tr.slots .error")).to_contain_text("Could not find slots")
    waiting.refresh_from_db()
    assert waiting.status == "waiting"


def test_each_role_sees_only_the_links_and_buttons_it_can_use(world: UiWorld, pages: Pages) -> None:
    case = world.booked_case(world.future)
    nav = {
        "coordinator": {"Theatre board", "Waiting list", "New patient", "New case", "Fill lists", "Metrics"},
        "surgeon": {"Theatre board", "Waiting list"},
        "anaesthetist": {"Theatre board", "Waiting list"},
        "viewer": {"Theatre board", "Waiting list", "Metrics"},
        # An admin may do what a coordinator does, and reads the metrics (preview-only in Fill).
        "admin": {"Theatre board", "Waiting list", "New patient", "New case", "Fill lists", "Metrics"},
    }
    for username, links in nav.items():
        page = pages.logged_in(username)
        ready(page, "board")
        shown = set(page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts())
        assert shown == links, username
        page.goto(f"/cases/{case.pk}/")
        ready(page, "case")
        confirms = 1 if username in ("coordinator", "admin") else 0
        expect(page.get_by_role("button", name="Confirm case")).to_have_count(confirms)
        expect(page.get_by_role("button", name="Approve plan")).to_have_count(1 if username == "surgeon" else 0)
        page.goto("/waiting/")
        ready(page, "waiting")
        expect(page.get_by_role("button", name="Find slots")).to_have_count(0)  # nobody waiting
    login_page = pages.new()
    login(login_page, "viewer", next_path="/patients/new/")
    ready(login_page, "patient_new")  # the page opens, but the API refuses the viewer's writes
