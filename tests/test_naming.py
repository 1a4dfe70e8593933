"""The naming and exactly-once rules of alert records (notices/naming.py), state by state, without Dagster."""

from datetime import UTC, datetime, timedelta

import pytest

from gwtm_assets.notices.naming import (
    LedgerState,
    PostAction,
    is_late,
    named_entry,
    needs_name,
    next_datecreated,
    notice_time,
    ordered_datecreated,
    post_action,
    posted_entry,
    product_name,
    record_number,
)

NOW = datetime(2026, 12, 2, 1, 0, 0, 123456)


def never_asked() -> int:
    raise AssertionError("the ledger must not be counted when the API is asked")


def test_a_fresh_record_is_named_by_what_the_api_holds_of_its_type_and_posted():
    held = [{"alert_type": "Preliminary"}, {"alert_type": "Preliminary"}, {"alert_type": "Initial"}]
    assert needs_name(None) and post_action(None) is PostAction.POST
    number = record_number(None, "Preliminary", held, never_asked)
    entry = named_entry("S1", "Preliminary", number, NOW)
    assert entry == {
        "name": "S1-Preliminary2",
        "alert_type": "Preliminary",
        "index": 2,
        "datecreated": "2026-12-02T01:00:00.123456",
        "state": LedgerState.POSTING,
    }
    assert record_number(None, "Update", held, never_asked) == 0
    assert product_name("S1", "Update", 0) == "S1-Update"


def test_an_external_coincidence_record_counts_its_own_type():
    held = [{"alert_type": "Initial"}, {"alert_type": "Initial-ExtCoinc"}]
    assert named_entry("S1", "Initial-ExtCoinc", record_number(None, "Initial-ExtCoinc", held, never_asked), NOW)[
        "name"
    ] == ("S1-Initial-ExtCoinc1")


def test_a_record_interrupted_after_naming_keeps_its_name_and_is_confirmed_before_posting():
    found = named_entry("S1", "Update", 1, NOW)
    assert not needs_name(found)
    assert post_action(found) is PostAction.CONFIRM_THEN_POST


def test_a_posted_record_is_kept_and_never_posted_again():
    found = posted_entry(named_entry("S1", "Update", 1, NOW), api_id=42)
    assert found["state"] == LedgerState.POSTED and found["api_id"] == 42 and found["name"] == "S1-Update1"
    assert not needs_name(found)
    assert post_action(found) is PostAction.KEEP


def test_a_legacy_interrupted_entry_without_datecreated_is_renamed_with_its_number_kept_and_confirmed():
    legacy = {"name": "S1-Update1", "alert_type": "Update", "index": 1, "state": "posting"}
    assert needs_name(legacy)
    assert post_action(legacy) is PostAction.CONFIRM_THEN_POST
    held = [{"alert_type": "Update"}] * 5  # the API moved on: the number must not follow it
    assert record_number(legacy, "Update", held, never_asked) == 1
    # a posted legacy entry is left alone, datecreated or not
    assert not needs_name({**legacy, "state": "posted"})


def test_without_an_api_the_number_comes_from_what_the_ledger_named():
    asked = []

    def named_offline() -> int:
        asked.append(True)
        return 3

    assert record_number(None, "Update", None, named_offline) == 3 and asked == [True]
    assert named_entry("S1", "Update", 3, NOW)["name"] == "S1-Update3"


@pytest.mark.parametrize("now", [NOW, NOW.replace(tzinfo=UTC)])
def test_datecreated_is_now_in_naive_utc_when_nothing_is_later(now):
    held = [{"datecreated": "2026-12-01T00:00:00"}, {"datecreated": None}, {}]
    created = next_datecreated(held, None, now)
    assert created == NOW and created.tzinfo is None


def test_datecreated_follows_the_latest_record_of_the_event_and_the_previous_record_of_this_notice():
    later = NOW + timedelta(seconds=5)
    held = [{"datecreated": later.isoformat()}, {"datecreated": (later - timedelta(hours=1)).isoformat() + "+00:00"}]
    first = next_datecreated(held, None, NOW)
    assert first == later + timedelta(milliseconds=1)
    second = next_datecreated(held, first, NOW)
    assert second > first
    # an offset is converted, not dropped: 07:00+05:00 is 02:00 UTC, after NOW
    assert next_datecreated([{"datecreated": "2026-12-02T07:00:00+05:00"}], None, NOW) == datetime(
        2026, 12, 2, 2, 0, 0, 1000
    )


def _held(*stamps: datetime) -> list[dict[str, str]]:
    return [{"datecreated": t.isoformat()} for t in stamps]


T0 = datetime(2026, 11, 28, 10, 0, 0)


def test_a_live_notice_is_posted_now_after_every_record():
    held = _held(T0, T0 + timedelta(minutes=5))
    made = notice_time(T0 + timedelta(minutes=6), "Update")
    assert not is_late(held, made)
    assert ordered_datecreated(held, made, {}, None, NOW) == NOW.replace(tzinfo=None)


def test_a_late_notice_goes_between_the_records_of_older_and_newer_notices_at_its_own_time():
    # Preliminary posted at T0+1 s, Update (made T0+10 min) posted at T0+10 min 2 s; the Initial of T0+5 min was missed.
    prelim, update = T0 + timedelta(seconds=1), T0 + timedelta(minutes=10, seconds=2)
    held = _held(prelim, update)
    times = {prelim: notice_time(T0, "Preliminary"), update: notice_time(T0 + timedelta(minutes=10), "Update")}
    made = notice_time(T0 + timedelta(minutes=5), "Initial")
    assert is_late(held, made)
    assert ordered_datecreated(held, made, times, None, NOW) == T0 + timedelta(minutes=5)
    # The same with the ledgers unknown (the earlier listener's records): they count as made when created.
    assert ordered_datecreated(held, made, {}, None, NOW) == T0 + timedelta(minutes=5)


def test_same_second_notices_are_ordered_by_type_and_a_crowded_gap_is_split():
    update = T0 + timedelta(microseconds=400)
    held = _held(T0 - timedelta(seconds=1), update)
    times = {update: notice_time(T0, "Update")}
    made = notice_time(T0, "Initial")  # same second as the Update, but before it in an event's sequence
    chosen = ordered_datecreated(held, made, times, None, NOW)
    assert T0 - timedelta(seconds=1) < chosen < update and chosen not in (T0 - timedelta(seconds=1), update)
    # An Update of the same second as the held Update is not older: posted now, after it.
    assert ordered_datecreated(held, notice_time(T0, "Update"), times, None, NOW) == NOW.replace(tzinfo=None)


def test_the_second_record_of_a_late_notice_follows_its_first_and_stays_before_the_newer_one():
    newer = T0 + timedelta(minutes=10)
    held = _held(newer)
    times = {newer: notice_time(newer, "Update")}
    made = notice_time(T0, "Update-ExtCoinc")
    first = ordered_datecreated(held, made, times, None, NOW)
    second = ordered_datecreated(held, made, times, first, NOW)
    assert first == T0 < second < newer


def test_a_late_notice_older_than_everything_lands_first():
    held = _held(T0)
    times = {T0: notice_time(T0, "Update")}
    assert ordered_datecreated(held, notice_time(T0, "Preliminary"), times, None, NOW) < T0
