"""StatefulModel.refresh_from_db: thread-safe, and protection survives a failed reload."""

import threading

import pytest

from processes.rounds.models import Case

pytestmark = pytest.mark.django_db


def test_a_failed_reload_keeps_the_state_protected(sample_round):
    case = Case(round=sample_round, ref="GONE", number="Z9", name_en="x")  # never saved
    case.pk = 999_999_999
    with pytest.raises(Case.DoesNotExist):
        case.refresh_from_db()
    assert case.state == "submission"
    with pytest.raises(AttributeError, match="Direct state modification is not allowed"):
        case.state = "closed"
    other = Case.objects.get(ref="TC-2017/A1")
    with pytest.raises(AttributeError):
        other.state = "closed"


def test_reloads_in_threads_never_unprotect_the_shared_field(sample_round):
    field = Case._meta.get_field("state")
    cases = [Case.objects.get(ref="TC-2017/A1") for _ in range(4)]
    seen_unprotected = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if not field.protected:
                seen_unprotected.append(True)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(200):
            for case in cases:
                case.refresh_from_db()
    finally:
        stop.set()
        watcher.join()
    assert not seen_unprotected
    assert all(case.state == "implementation" for case in cases)
