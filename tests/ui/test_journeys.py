"""The staff UI's journeys in real Chromium, through clicks and typing only, each checked in the
database afterwards (issue 14)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from scheduling.models import Case, CaseTimes, ChecklistEntry, Patient
from tests.builders.clinic import confirm, sign
from tests.factories import LONDON, PatientFactory
from tests.ui.conftest import Pages, check_accessibility, login, ready, screenshot
from tests.ui.world import UiWorld
from theatre.models import TheatreSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_NHS = "9434765870"


def answer_eligible(page: Page) -> None:
    """The screening questionnaire as a clinician answers it for a fit patient."""
    yes = (
        "fracture_painful",
        "fracture_unhealed_on_imaging",
        "conservative_care_tried",
        "can_lie_prone",
        "mdt_discussed",
    )
    no = (
        "fragment_or_tumour_in_canal",
        "active_infection",
        "bleeding_disorder",
        "cement_allergy",
        "radicular_pain_dominant",
        "vertebra_plana",
    )
    for code in yes:
        page.locator(f"[data-question={code}]").get_by_role("radio", name="Yes", exact=True).check()
    for code in no:
        page.locator(f"[data-question={code}]").get_by_role("radio", name="No", exact=True).check()
    page.locator("[data-question=inr] input").fill("1.1")
    page.locator("[data-question=platelets] input").fill("210")
    page.locator("[data-question=anticoagulants]").get_by_role("checkbox", name="None", exact=True).check()


def test_coordinator_creates_patient_and_kyphoplasty_case_books_a_slot_and_sees_it_on_the_board(
    pages: Pages, world: UiWorld
) -> None:
    """Given a published list a week ahead,
    when the coordinator logs in, creates a patient and a two-level kyphoplasty case, finds a slot
    and books the first one,
    then the case is booked into that list in the database and shows on the board with its time."""
    page = pages.logged_in("coordinator")
    ready(page, "board")
    page.get_by_role("link", name="New patient").click()
    ready(page, "patient_new")
    page.get_by_label("NHS number").fill("943 476 5870")
    page.get_by_label("Hospital number (MRN)").fill("UI0001")
    page.get_by_label("Given name").fill("Winifred")
    page.get_by_label("Family name").fill("Quarrington")
    page.get_by_label("Date of birth").fill("1944-05-17")
    page.get_by_role("textbox", name="Email").fill("w.quarrington@example.org")
    page.get_by_role("checkbox", name="Email").check()
    check_accessibility(page)
    page.get_by_role("button", name="Create patient").click()

    ready(page, "case_new")
    patient = Patient.objects.get(nhs_number=NEW_NHS)
    expect(page.get_by_label("Patient", exact=True)).to_have_value(str(patient.pk))
    page.get_by_label("Find a patient").fill("quarrington")  # narrows the list in the page
    expect(page.get_by_label("Patient", exact=True)).to_have_value(str(patient.pk))
    expect(page.get_by_label("Procedure", exact=True)).to_have_value("kyphoplasty")
    page.locator("[data-field=levels]").get_by_label("T12").check()
    page.locator("[data-field=levels]").get_by_label("L1").check()
    page.get_by_label("Surgeon", exact=True).select_option(label="Miss Priya Shah")
    page.get_by_label("Priority", exact=True).select_option("P2")
    answer_eligible(page)
    expect(page.locator("#screening-result")).to_contain_text("Eligible")
    expect(page.locator("#estimate")).to_contain_text("Estimate:")
    check_accessibility(page)
    page.get_by_role("button", name="Add to waiting list").click()

    ready(page, "case")
    case = Case.objects.get(patient=patient)
    assert case.status == "waiting" and case.levels == ["T12", "L1"] and case.priority == "P2"
    assert case.screening_result["result"] == "eligible"
    page.get_by_role("button", name="Find slots").click()
    first = page.locator(".slot-list button").first
    expect(first).to_contain_text("Theatre 1")
    session_id, start = first.get_attribute("data-session"), first.get_attribute("data-start")
    assert session_id is not None and start is not None
    first.click()
    expect(page.locator(".success")).to_contain_text("Booked")

    case.refresh_from_db()
    assert case.status == "booked"
    assert case.session_id == int(session_id)
    assert case.start == dt.datetime.fromisoformat(start)
    page.get_by_role("link", name="See it on the board").click()
    ready(page, "board")
    card = page.locator(f"article[data-session='{session_id}']")
    expect(card.locator(f"li[data-case='{case.pk}']")).to_contain_text("Winifred Quarrington (9434765870)")
    expect(card.locator(f"li[data-case='{case.pk}']")).to_contain_text(f"{case.start.astimezone(LONDON):%H:%M}–")
    check_accessibility(page)


def test_a_slot_taken_meanwhile_shows_the_servers_message_and_changes_nothing(pages: Pages, world: UiWorld) -> None:
    """Given the coordinator has found slots for a waiting case,
    when another booking takes that time before they click Book,
    then the 409 slot_taken is shown in plain words beside the button and nothing is booked."""
    waiting = world.waiting_case(patient=PatientFactory(given_name="Ermintrude", family_name="Ollerenshaw"))
    page = pages.logged_in("coordinator")
    page.goto("/waiting/")
    ready(page, "waiting")
    row = page.locator(f"tr[data-case='{waiting.pk}']")
    expect(row).to_contain_text("Ermintrude Ollerenshaw")
    # Keyboard only: focus the button and press Enter.
    row.get_by_role("button", name="Find slots").focus()
    page.keyboard.press("Enter")
    slot = page.locator(".slot-list button").first
    expect(slot).to_be_visible()
    slot_session, slot_start = slot.get_attribute("data-session"), slot.get_attribute("data-start")
    assert slot_session is not None and slot_start is not None
    check_accessibility(page)

    # Another coordinator books a different case at exactly that time.
    taken_by = TheatreSession.objects.get(pk=slot_session)
    world.booked_case(taken_by, start=dt.datetime.fromisoformat(slot_start))
    before = Case.objects.get(pk=waiting.pk)
    slot.click()

    error = page.locator(".slot-list li .error").first
    expect(error).to_contain_text("Not booked.")
    expect(error).to_have_attribute(
        "data-code", re.compile(r"slot_taken|session_full|equipment_unavailable|surgeon_busy")
    )
    after = Case.objects.get(pk=waiting.pk)
    assert (after.status, after.session_id, after.start, after.updated_at) == (
        "waiting",
        None,
        None,
        before.updated_at,
    )


def test_a_viewer_sees_the_board_without_patient_names_or_nhs_numbers(pages: Pages, world: UiWorld) -> None:
    """Neither the pages' text nor any API response they received carries a name, NHS number or
    MRN: the board, and the waiting list and case page a viewer can also open."""
    patient = PatientFactory(given_name="Philippa", family_name="Gathercole", nhs_number="9434765919")
    case = world.booked_case(world.future, patient=patient)
    waiting = world.waiting_case(patient=PatientFactory(given_name="Leofric", family_name="Attenborough"))
    page = pages.new()
    bodies: list[str] = []
    page.on("response", lambda r: bodies.append(r.text()) if "/api/v1/" in r.url else None)
    secrets = (
        "Philippa",
        "Gathercole",
        "9434765919",
        patient.mrn,
        "Leofric",
        "Attenborough",
        waiting.patient.nhs_number,
    )

    login(page, "viewer", next_path=f"/?week={world.future.start.date().isoformat()}")
    ready(page, "board")
    card = page.locator(f"article[data-session='{world.future.pk}']")
    expect(card).to_contain_text(case.reference)
    check_accessibility(page)
    texts = [page.locator("body").inner_text()]
    for path, name in (("/waiting/", "waiting"), (f"/cases/{case.pk}/", "case")):
        page.goto(path)
        ready(page, name)
        texts.append(page.locator("body").inner_text())
    expect(page.locator("#plan")).to_contain_text("Timed steps")  # the plan, without the patient

    assert len(bodies) >= 6, "the pages read the API"
    for secret in secrets:
        assert not [t for t in texts if secret in t], secret
        assert not [b for b in bodies if secret in b], secret
    # Viewers get no booking or case forms in the navigation either.
    expect(page.get_by_role("link", name="New case")).to_have_count(0)


def test_the_surgeon_approves_their_case_and_another_surgeon_sees_no_approve(pages: Pages, world: UiWorld) -> None:
    case = world.booked_case(world.future, patient=PatientFactory(given_name="Eglantine", family_name="Mossop"))
    other = pages.logged_in("surgeon2")
    other.goto(f"/cases/{case.pk}/")
    ready(other, "case")
    expect(other.locator("#plan")).to_contain_text("Timed steps")
    expect(other.get_by_role("button", name="Approve plan")).to_have_count(0)

    page = pages.logged_in("surgeon")
    page.goto(f"/cases/{case.pk}/")
    ready(page, "case")
    expect(page.locator("#approval-state")).to_contain_text("Not approved")
    expect(page.locator("#plan")).to_contain_text("Risks to consent for")
    expect(page.get_by_role("link", name="Print view")).to_have_attribute(
        "href", f"/api/v1/cases/{case.pk}/plan/?format=html"
    )
    check_accessibility(page)
    page.get_by_role("button", name="Approve plan").click()
    ready(page, "case")
    expect(page.locator("#approval-state")).to_contain_text("Approved by Surgeon Tester")

    case.refresh_from_db()
    assert case.plan_approved_at is not None
    assert case.plan_approved_by == world.users["surgeon"]


def test_the_coordinator_confirms_and_the_anaesthetist_signs_the_checklist_through_the_form(
    pages: Pages, world: UiWorld
) -> None:
    """On today's list (the WHO sign in is accepted only on the list's day)."""
    case = world.booked_case(world.today, patient=PatientFactory(given_name="Hephzibah", family_name="Runciman"))
    world.approve(case)
    page = pages.logged_in("coordinator")
    page.goto(f"/cases/{case.pk}/")
    ready(page, "case")
    expect(page.locator("#checklist")).to_contain_text("starts once the case is confirmed")
    page.get_by_role("button", name="Confirm case").click()
    ready(page, "case")
    expect(page.locator("#case-status")).to_have_text("Confirmed")
    case.refresh_from_db()
    assert case.status == "confirmed"

    anaesthetist = pages.logged_in("anaesthetist")
    anaesthetist.goto(f"/cases/{case.pk}/")
    for phase in ("Sign in", "Time out", "Sign out"):
        ready(anaesthetist, "case")
        form = anaesthetist.locator("#checklist-form")
        expect(form).to_contain_text(f"{phase}: confirm each item")
        for box in form.get_by_role("checkbox").all():
            box.check()
        for group in form.get_by_role("radiogroup").all():
            group.get_by_role("radio").first.check()
        if phase == "Sign in":
            check_accessibility(anaesthetist)
        form.get_by_role("button", name=f"Sign {phase.lower()}").click()
        anaesthetist.wait_for_load_state("load")
    ready(anaesthetist, "case")
    expect(anaesthetist.locator("#checklist")).to_contain_text("All three phases are signed")

    case.refresh_from_db()
    assert case.status == "completed"
    signed = list(ChecklistEntry.objects.filter(case=case).order_by("signed_at").values_list("phase", "signed_by"))
    anaesthetist_id = world.users["anaesthetist"].pk
    assert signed == [("sign_in", anaesthetist_id), ("time_out", anaesthetist_id), ("sign_out", anaesthetist_id)]
    screenshot(anaesthetist, "case")


def test_the_coordinator_moves_a_booked_case_then_cancels_it_with_a_reason(pages: Pages, world: UiWorld) -> None:
    case = world.booked_case(world.future)
    first_start = case.start
    page = pages.logged_in("coordinator")
    page.goto(f"/cases/{case.pk}/")
    ready(page, "case")
    page.get_by_role("button", name="Find another slot").click()
    target = page.locator(".slot-list button").filter(has_text="Move to").first
    session_id, start = target.get_attribute("data-session"), target.get_attribute("data-start")
    assert session_id is not None and start is not None
    target.click()
    expect(page.locator(".success")).to_contain_text("Moved")
    case.refresh_from_db()
    assert (case.status, case.session_id, case.start) == ("booked", int(session_id), dt.datetime.fromisoformat(start))
    assert case.start != first_start

    page.reload()
    ready(page, "case")
    page.get_by_label("Reason", exact=True).select_option("patient_request")
    page.get_by_label("Note (optional unless the reason needs one)").fill("Prefers to wait until after a family event.")
    page.get_by_role("button", name="Cancel case").click()
    ready(page, "case")
    expect(page.locator("#case-status")).to_have_text("Cancelled")
    case.refresh_from_db()
    assert case.status == "cancelled" and case.cancel_reason == "patient_request"


def test_the_anaesthetist_records_theatre_times_in_local_time(pages: Pages, world: UiWorld) -> None:
    """After sign in, times typed as the theatre clock shows them are stored as those instants."""
    case = world.booked_case(world.today)
    world.approve(case)
    confirm(case, by=world.users["coordinator"])
    sign(case, "sign_in", by=world.users["anaesthetist"])
    now = dt.datetime.now(LONDON).replace(second=0, microsecond=0)
    page = pages.logged_in("anaesthetist")
    page.goto(f"/cases/{case.pk}/")
    ready(page, "case")
    form = page.locator("#times-form")
    form.get_by_label("Anaesthesia start").fill(f"{now:%H:%M}")
    form.get_by_label("In theatre").fill(f"{now:%H:%M}")
    form.get_by_role("button", name="Record times").click()
    ready(page, "case")
    expect(page.locator("#times")).to_contain_text(f"{now:%H:%M}")
    times = CaseTimes.objects.get(case=case)
    assert times.anaesthesia_start == now and times.in_theatre == now
    assert times.knife_to_skin is None
