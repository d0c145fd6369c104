"""The event vocabulary: every validation rule of validate_event and its message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cratedig.events import (
    DEFAULT_WEIGHTS,
    EVENT_TYPES,
    ORGANIC,
    TRACK_EVENTS,
    EventType,
    derive_event_id,
    validate_event,
)
from cratedig.exceptions import ValidationError
from cratedig.fields import parse_timestamp_ms

# 2026-03-01T19:15:00Z in milliseconds, computed by hand:
# days from 1970-01-01 to 2026-03-01 = 20513; 20513 * 86400 + 19 * 3600 + 15 * 60 = 1772392500
T_MS = 1_772_392_500_000


def play(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "event_id": "e1",
        "user_id": "u1",
        "event_type": "play_track",
        "occurred_at": "2026-03-01T20:15:00+01:00",
        "artist_id": "a1",
        "track_id": "t1",
        "duration_ms": 180_000,
    }
    raw.update(overrides)
    return raw


def error_of(raw: dict[str, object], **kwargs: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate_event(raw, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_a_good_event_is_normalised() -> None:
    event = validate_event(play(user_id=" u1 ", source=None))
    assert event.user_id == "u1"
    assert event.occurred_at_ms == T_MS
    assert event.count == 1
    assert event.source == ORGANIC
    assert event.duration_ms == 180_000
    assert event.as_row()["event_id"] == "e1"


def test_unknown_event_type_names_field_value_and_choices() -> None:
    err = error_of(play(event_type="plya"))
    assert err.field == "event_type"
    assert err.value == "plya"
    assert str(err).startswith("event_type: 'plya' is not valid; expected one of: visit, ")
    assert "play_track" in str(err) and "recommendation_click" in str(err)


@pytest.mark.parametrize("user", [None, "", "   ", float("nan")])
def test_missing_or_empty_user(user: object) -> None:
    raw = play(user_id=user)
    err = error_of(raw)
    assert err.field == "user_id"
    assert "expected a non-empty user id" in str(err)


def test_missing_user_key() -> None:
    raw = play()
    del raw["user_id"]
    assert str(error_of(raw)) == "user_id: None is not valid; expected a non-empty user id."


@pytest.mark.parametrize("value", ["yesterday", "2026-02-30", "", None, "2026-13-01T00:00:00"])
def test_unparseable_timestamp(value: object) -> None:
    err = error_of(play(occurred_at=value))
    assert err.field == "occurred_at"
    assert err.value == value
    assert "expected an ISO 8601 timestamp, a datetime, or epoch seconds/milliseconds" in str(err)


def test_timestamp_forms() -> None:
    assert parse_timestamp_ms("2026-03-01T19:15:00Z") == T_MS
    assert parse_timestamp_ms("2026-03-01 19:15:00z") == T_MS
    assert parse_timestamp_ms("2026-03-01T14:15:00-05:00") == T_MS
    assert parse_timestamp_ms(T_MS // 1000) == T_MS  # seconds
    assert parse_timestamp_ms(T_MS) == T_MS  # milliseconds
    assert parse_timestamp_ms(str(T_MS // 1000)) == T_MS
    assert parse_timestamp_ms(datetime(2026, 3, 1, 19, 15, tzinfo=UTC)) == T_MS
    tz = timezone(timedelta(hours=2))
    assert parse_timestamp_ms(datetime(2026, 3, 1, 21, 15, tzinfo=tz)) == T_MS
    assert parse_timestamp_ms("-5") == -5000


def test_naive_timestamp_is_read_as_utc() -> None:
    assert parse_timestamp_ms("2026-03-01T19:15:00") == T_MS
    assert parse_timestamp_ms(datetime(2026, 3, 1, 19, 15)) == T_MS
    assert validate_event(play(occurred_at="2026-03-01 19:15:00")).occurred_at_ms == T_MS


def test_occurred_at_ms_is_accepted_instead() -> None:
    raw = play()
    del raw["occurred_at"]
    raw["occurred_at_ms"] = T_MS
    assert validate_event(raw).occurred_at_ms == T_MS
    del raw["occurred_at_ms"]
    assert error_of(raw).field == "occurred_at_ms"


@pytest.mark.parametrize("value", ["99999999999999999999", 10**20, "--5", "²"])
def test_timestamps_outside_the_storable_range_or_odd_digits_are_errors(value: object) -> None:
    err = error_of(play(occurred_at=value))
    assert err.field == "occurred_at"


def test_negative_duration() -> None:
    err = error_of(play(duration_ms=-5))
    assert str(err) == "duration_ms: -5 is not valid; expected a whole number >= 0."
    assert str(error_of(play(duration_ms="1.5"))).endswith("expected a whole number >= 0.")
    assert str(error_of(play(duration_ms="long"))).endswith("expected a whole number >= 0.")


def test_negative_or_huge_count() -> None:
    err = error_of(play(count="-1"))
    assert str(err) == "count: '-1' is not valid; expected a whole number >= 0."
    err = error_of(play(count=2**31))
    assert str(err) == (
        f"count: {2**31} is not valid; expected a whole number between 0 and {2**31 - 1}."
    )
    assert validate_event(play(count="0")).count == 0
    assert validate_event(play(count=3.0)).count == 3


def test_unresolvable_track_artist() -> None:
    raw = play(artist_id=None, track_id="t9")
    err = error_of(raw, resolve_artist=lambda t: None)
    assert err.field == "track_id"
    assert str(err) == (
        "track_id: 't9' is not valid; expected a known track (or an artist_id) so that "
        "the event's artist can be resolved."
    )
    assert error_of(play(artist_id=None, track_id="t9")).field == "track_id"


def test_track_artist_is_resolved() -> None:
    event = validate_event(play(artist_id="", track_id="t1"), resolve_artist={"t1": "a7"}.get)
    assert event.artist_id == "a7"


def test_artist_events_need_an_artist_and_visits_do_not() -> None:
    err = error_of({"user_id": "u1", "event_type": "follow_artist", "occurred_at": T_MS})
    assert str(err) == "artist_id: None is not valid; expected an artist id for follow_artist."
    visit = validate_event({"user_id": "u1", "event_type": "visit", "occurred_at": T_MS})
    assert visit.artist_id is None


def test_tag_artist_needs_a_tag() -> None:
    raw = {"user_id": "u1", "event_type": "tag_artist", "occurred_at": T_MS, "artist_id": "a1"}
    assert error_of(raw).field == "tag"
    assert validate_event({**raw, "tag": "jazz"}).tag == "jazz"


def test_over_long_ids_are_errors() -> None:
    err = error_of(play(user_id="u" * 129))
    assert err.field == "user_id"
    assert "at most 128 characters" in str(err)
    assert validate_event(play(user_id="u" * 128)).user_id == "u" * 128


def test_derived_event_id_is_stable_and_content_based() -> None:
    raw = play(event_id=None)
    first, second = validate_event(raw), validate_event(dict(raw))
    assert first.event_id == second.event_id
    assert first.event_id.startswith("h-") and len(first.event_id) == 34
    assert first.event_id == derive_event_id(
        "u1", "play_track", T_MS, "a1", "t1", 180_000, 1, None, None, ORGANIC
    )
    assert validate_event(play(event_id=None, duration_ms=1)).event_id != first.event_id


def test_vocabulary_constants() -> None:
    assert set(DEFAULT_WEIGHTS) == set(EVENT_TYPES)
    assert DEFAULT_WEIGHTS[EventType.FOLLOW_ARTIST] > DEFAULT_WEIGHTS[EventType.LIKE_TRACK]
    assert DEFAULT_WEIGHTS[EventType.UNFOLLOW_ARTIST] < 0
    assert EventType.PLAY_TRACK in TRACK_EVENTS and EventType.FOLLOW_ARTIST not in TRACK_EVENTS


def test_lone_surrogate_is_rejected_naming_the_field() -> None:
    from cratedig.events import validate_event
    from cratedig.exceptions import ValidationError

    raw = {"user_id": "u\ud800", "event_type": "visit", "occurred_at": "2026-01-01T00:00:00Z"}
    try:
        validate_event(raw)
    except ValidationError as exc:
        assert exc.field == "user_id" and "lone surrogates" in str(exc)
    else:
        raise AssertionError("a lone surrogate was accepted")
    ok = validate_event({**raw, "user_id": "Björk"})
    assert ok.user_id == "Björk"


def test_required_fields_are_one_rule_for_the_validator_the_fast_path_and_the_api() -> None:
    """``REQUIRED_FIELDS`` is the only place "tag_artist needs a tag" is written."""
    import pyarrow as pa

    from cratedig.events import REQUIRED_FIELDS
    from cratedig.ingest.event_batch import normalise_event_batch
    from cratedig.serving.openapi_schemas import SCHEMAS

    raw = {
        "user_id": "u1",
        "event_type": "tag_artist",
        "artist_id": "a1",
        "occurred_at": "2026-01-01T00:00:00Z",
    }
    with pytest.raises(ValidationError) as info:
        validate_event(raw)
    assert info.value.field == "tag"
    batch = pa.RecordBatch.from_pylist([{**raw, "tag": "rock"}, raw])
    assert normalise_event_batch(batch).ok.tolist() == [True, False]
    rules = SCHEMAS["Event"]["allOf"]
    assert [
        (r["if"]["properties"]["event_type"]["const"], r["then"]["required"]) for r in rules
    ] == [(str(t), list(f)) for t, f in REQUIRED_FIELDS.items()]


def test_api_limits_are_the_validators_limits() -> None:
    """One MAX_COUNT and one MAX_DURATION_MS: the OpenAPI document states the same."""
    from cratedig.events import MAX_COUNT, MAX_DURATION_MS
    from cratedig.serving.openapi_schemas import SCHEMAS

    props = SCHEMAS["Event"]["properties"]
    assert props["count"]["maximum"] == MAX_COUNT
    assert props["duration_ms"]["maximum"] == MAX_DURATION_MS
    ok = validate_event(
        {"user_id": "u", "event_type": "visit", "occurred_at": 0, "count": MAX_COUNT}
    )
    assert ok.count == MAX_COUNT
    with pytest.raises(ValidationError):
        validate_event(
            {"user_id": "u", "event_type": "visit", "occurred_at": 0, "count": MAX_COUNT + 1}
        )


@pytest.mark.parametrize("value", [{"a": 1}, ["u1"], True])
def test_objects_arrays_and_booleans_are_not_ids(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_event({"user_id": value, "event_type": "visit", "occurred_at": 0})
    assert info.value.field == "user_id" and "a string" in str(info.value)


def test_write_path_derives_stubs_and_reports(engine) -> None:
    """The API's entry to the write path: real-track artists, stub users, artists and
    tracks (as the file importer makes them), duplicates and per-row errors."""
    from sqlalchemy import select

    from cratedig.ingest.bulk import import_records
    from cratedig.ingest.write_path import store_events
    from cratedig.store import schema
    from cratedig.store.writes import insert_ignore

    with engine.begin() as conn:
        insert_ignore(conn, schema.artists, [{"artist_id": "a1", "name": "A", "is_stub": False}])
        insert_ignore(
            conn,
            schema.tracks,
            [{"track_id": "t1", "artist_id": "a1", "title": None, "is_stub": False}],
        )
    base = {"user_id": "u1", "event_type": "play_track", "occurred_at": 1_700_000_000}
    raws = [
        {**base, "event_id": "e1", "track_id": "t1"},  # artist from the real track
        {**base, "event_id": "e2", "track_id": "t9", "artist_id": "a9"},  # stub a9 and t9
        {**base, "event_id": "e3", "track_id": "t9"},  # a stub track resolves nothing
        {**base, "event_id": "e1", "track_id": "t1"},  # repeated in the batch
        "not an event",
    ]
    result = store_events(engine, raws)
    assert (result.accepted, result.duplicates) == (2, 1)
    assert [(e["index"], e["field"]) for e in result.errors] == [(2, "track_id"), (4, "event")]
    assert result.stubs_created == 3 and result.user_ids == {"u1"}  # u1, a9, t9
    with engine.connect() as conn:
        t9 = conn.execute(select(schema.tracks).where(schema.tracks.c.track_id == "t9")).one()
        e1 = conn.execute(
            select(schema.user_events.c.artist_id).where(schema.user_events.c.event_id == "e1")
        ).scalar_one()
    assert (t9.artist_id, bool(t9.is_stub), e1) == ("a9", True, "a1")
    # the file importer agrees: the same rows are duplicates or the same rejection
    report = import_records(engine, "events", list(enumerate(raws[:3], start=1)), source="x")
    assert (report.accepted, report.duplicates, report.quarantined) == (0, 2, 1)
