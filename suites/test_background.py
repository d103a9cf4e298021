"""Background mode: queued → terminal by polling, cancel, and resumable streams
(cases in cases/background.yaml)."""
from __future__ import annotations

import pytest

from fixtures.cases import Case, cases_for
from fixtures.findings import fail_on, require
from fixtures.response_compare import check_stored_matches
from fixtures.session import Conformance

PENDING = ("queued", "in_progress")
CLIENT_ERRORS = tuple(range(400, 410))


def _start(conformance: Conformance, case: Case) -> dict:
    created = conformance.ok(conformance.create(conformance.request_of(case)))
    require(created["status"] in PENDING, "background.initial_status", "create is not pending",
            expected=" or ".join(PENDING), got=created["status"])
    require(created["background"] is True, "background.echo", "the response does not say background=true",
            expected=True, got=created["background"])
    return created


@pytest.mark.parametrize("case", cases_for("background", "poll_to_completion"))
def test_poll_to_completion(conformance: Conformance, case: Case) -> None:
    """create returns at once; polling reaches completed."""
    created = _start(conformance, case)
    final = conformance.poll_until_terminal(created["id"])
    require(final["status"] == "completed", "background.terminal", "polling ended elsewhere",
            expected="completed", got=final["status"])
    require(final["output"], "background.output", "a completed response has no output")


@pytest.mark.parametrize("case", cases_for("background", "cancel"))
def test_cancel(conformance: Conformance, case: Case) -> None:
    """cancel answers the response with status cancelled, and it stays cancelled."""
    created = _start(conformance, case)
    cancelled = conformance.ok(conformance.client.cancel(created["id"]))
    require(cancelled["status"] == "cancelled", "cancel.status", "cancel did not cancel",
            expected="cancelled", got=cancelled["status"])
    final = conformance.poll_until_terminal(created["id"])
    require(final["status"] == "cancelled", "cancel.sticky", "a later GET disagrees",
            expected="cancelled", got=final["status"])


@pytest.mark.parametrize("case", cases_for("background", "cancel_twice"))
def test_cancel_twice(conformance: Conformance, case: Case) -> None:
    """A second cancel is idempotent: 200 and still cancelled."""
    created = _start(conformance, case)
    conformance.ok(conformance.client.cancel(created["id"]))
    again = conformance.ok(conformance.client.cancel(created["id"]))
    require(again["status"] == "cancelled", "cancel.idempotent", "the second cancel disagrees",
            expected="cancelled", got=again["status"])


@pytest.mark.parametrize("case", cases_for("background", "cancel_finished"))
def test_cancel_finished(conformance: Conformance, case: Case) -> None:
    """Cancelling a completed response is an error object, and it stays completed."""
    created = _start(conformance, case)
    conformance.poll_until_terminal(created["id"])
    conformance.error(conformance.client.cancel(created["id"]), CLIENT_ERRORS)
    after = conformance.ok(conformance.client.retrieve(created["id"]))
    require(after["status"] == "completed", "cancel.finished", "the finished response changed status",
            expected="completed", got=after["status"])


@pytest.mark.parametrize("case", cases_for("background", "cancel_foreground"))
def test_cancel_foreground(conformance: Conformance, case: Case) -> None:
    """Only background responses can be cancelled."""
    created = conformance.ok(conformance.create(conformance.request_of(case)))
    conformance.error(conformance.client.cancel(created["id"]), CLIENT_ERRORS)


@pytest.mark.parametrize("case", cases_for("background", "exchange"))
def test_exchange(conformance: Conformance, case: Case) -> None:
    """Invalid background requests are rejected with an error object."""
    conformance.run(case)


@pytest.mark.parametrize("case", cases_for("background", "background_stream"))
def test_background_stream(conformance: Conformance, case: Case) -> None:
    """A streamed background response starts queued and follows the grammar's background mode."""
    exchange = conformance.create(conformance.request_of(case))
    final = conformance.ok(exchange, mode="background")
    first = exchange.events()[0]
    require(first["response"]["status"] == "queued", "background.created_status",
            "response.created is not queued", expected="queued", got=first["response"]["status"])
    stored = conformance.ok(conformance.client.retrieve(final["id"]))
    fail_on(check_stored_matches(final, stored), "between the stream and GET")


@pytest.mark.parametrize("case", cases_for("background", "background_resume"))
def test_background_resume(conformance: Conformance, case: Case) -> None:
    """GET ?stream=true&starting_after=N replays the events after N, byte-for-byte in content."""
    original = conformance.create(conformance.request_of(case))
    final = conformance.ok(original, mode="background")
    cursor = case.params["starting_after"]
    resumed = conformance.client.retrieve(final["id"], stream=True, starting_after=cursor)
    conformance.ok(resumed, mode="resume")
    expected = [e for e in original.events() if e.get("sequence_number", -1) > cursor]
    got = resumed.events()
    require(got and got[0].get("sequence_number") == cursor + 1, "resume.cursor",
            "the first resumed event's sequence_number", expected=cursor + 1,
            got=got[0].get("sequence_number") if got else None)
    require([e["type"] for e in got] == [e["type"] for e in expected], "resume.events",
            f"resumed types differ from the original after {cursor}",
            expected=[e["type"] for e in expected], got=[e["type"] for e in got])
