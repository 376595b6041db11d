"""The raw lake: landings are atomic, incremental and idempotent, and say what they can change."""

import datetime as dt

import pyarrow.parquet as pq

from pipeline.entities import ENTITIES
from tests.instance import Instance, at


def base() -> Instance:
    u = Instance()
    u.project("p")
    u.flag("a", "p", "2025-01-06T10:00")
    u.user(1, "2025-01-01T09:00")
    u.seen(1, "2025-01-06T09:00")
    u.metrics("a", "web", "production", "2025-01-06T10:00", yes=1, no=0)
    return u


def test_landing_the_same_data_twice_adds_nothing(tmp_path):
    u = base()
    u.land(tmp_path)
    state = (tmp_path / "lake" / "_state.json").read_bytes()
    lake = u.land(tmp_path, extracted_at="2026-01-02T00:00")
    assert lake.generation == 1
    assert (tmp_path / "lake" / "_state.json").read_bytes() == state


def test_new_events_land_once_and_the_overlap_is_deduplicated(tmp_path):
    u = base()
    u.land(tmp_path)
    u.stale("a", "2025-01-07T10:00")
    lake = u.land(tmp_path, extracted_at="2026-01-02T00:00")
    events = pq.read_table(lake.files("events")).to_pylist()
    assert [e["type"] for e in events] == ["project-created", "feature-created", "feature-stale-on"]
    assert len({e["id"] for e in events}) == 3
    assert lake.landings[-1]["rows"]["events"] == 1
    assert lake.landings[-1]["affects_from"] == "2025-01-07T10:00:00+00:00"


def test_a_growing_metrics_hour_replaces_the_days_file(tmp_path):
    u = base()
    u.land(tmp_path)
    u.hourly = [("a", "web", "production", at("2025-01-06T10:00"), 5, 2)]
    lake = u.land(tmp_path, extracted_at="2026-01-02T00:00")
    file = lake.day_files("client_metrics")[dt.date(2025, 1, 6)]
    assert "g000002" in file
    assert [(r["yes"], r["no"]) for r in pq.read_table(file).to_pylist()] == [(5, 2)]


def test_a_row_delivered_twice_in_one_landing_lands_once_as_delivered_last_in_key_order(tmp_path):
    u = base()
    u.hourly = [
        ("a", "web", "production", at("2025-01-06T11:00"), 1, 1),
        ("a", "web", "staging", at("2025-01-06T10:00"), 2, 0),
        ("a", "web", "production", at("2025-01-06T11:00"), 3, 3),
    ]
    lake = u.land(tmp_path)
    rows = pq.read_table(lake.day_files("client_metrics")[dt.date(2025, 1, 6)]).to_pylist()
    assert [(r["timestamp"].hour, r["environment"], r["yes"], r["no"]) for r in rows] == [
        (11, "production", 3, 3), (10, "staging", 2, 0)
    ]


def test_a_days_metrics_are_kept_in_the_byte_order_of_their_text_whichever_order_they_came_in(tmp_path):
    u = base()
    for flag in ("é", "b", "a-1", "B"):
        u.flag(flag, "p", "2025-01-06T09:00")
    u.hourly = [(flag, app, "production", at("2025-01-06T10:00"), 1, 0)
                for flag, app in [("é", "web"), ("b", "web"), ("a-1", "web"), ("B", "web"), ("a", "web"), ("a", "api")]]
    lake = u.land(tmp_path)
    u.hourly.append(("a", "", "production", at("2025-01-06T11:00"), 1, 0))  # a second landing merges into the day
    lake = u.land(tmp_path)
    rows = pq.read_table(lake.day_files("client_metrics")[dt.date(2025, 1, 6)]).to_pylist()
    assert [(r["feature_name"], r["app_name"]) for r in rows] == [  # UTF-8 bytes: "B" < "a" < "a-1" < "b" < "é"
        ("B", "web"), ("a", ""), ("a", "api"), ("a", "web"), ("a-1", "web"), ("b", "web"), ("é", "web")]


def test_an_unchanged_snapshot_is_not_landed_again_but_a_changed_one_is(tmp_path):
    u = base()
    u.land(tmp_path)
    u.user(2, "2025-02-01T09:00")
    lake = u.land(tmp_path, extracted_at="2026-01-02T00:00")
    assert len(lake.snapshot_files("users")) == 2
    assert len(lake.snapshot_files("features")) == 1
    assert lake.landings[-1]["affects_from"] == "2025-02-01T09:00:00+00:00"


def test_a_users_last_login_changing_does_not_reach_back_in_time(tmp_path):
    u = base()
    u.land(tmp_path)
    u.users[1]["seen_at"] = at("2025-12-30T09:00")
    lake = u.land(tmp_path, extracted_at="2026-01-02T00:00")
    assert lake.landings[-1]["affects_from"] is None or lake.landings[-1]["affects_from"] >= "2025-12-30"


def test_files_of_a_landing_that_never_committed_are_removed(tmp_path):
    u = base()
    lake = u.land(tmp_path)
    orphan = tmp_path / "lake" / "events" / "g000002.parquet"
    orphan.write_bytes(b"half written")
    u.stale("a", "2025-01-07T10:00")
    lake = u.land(tmp_path, extracted_at="2026-01-02T00:00")
    assert pq.read_table(orphan).num_rows == 1  # rewritten whole by the landing that committed it
    assert lake.generation == 2


def test_no_lake_entity_has_a_column_for_personal_data():
    personal = {"username", "email", "image_url", "password_hash", "email_hash", "ip", "client_ip", "created_by",
                "parameters", "constraints", "data", "pre_data", "scim_id", "seat_type"}
    for entity in ENTITIES.values():
        assert personal.isdisjoint(entity.schema.names), entity.name
    assert ENTITIES["users"].schema.names == ["id", "created_at", "seen_at", "deleted_at", "is_service", "is_system"]


def test_the_lake_keeps_its_first_event_and_a_lake_that_did_not_learns_it_at_its_next_landing(tmp_path):
    import json

    from pipeline import job

    u = Instance()
    u.project("p", created="2025-01-05T09:00")
    u.flag("a", "p", "2025-01-03T10:00")  # its creation event is the lake's first instant
    u.land(tmp_path)
    state_file = tmp_path / "lake" / "_state.json"
    state = json.loads(state_file.read_text())
    assert state["entities"]["events"]["first_at"] == "2025-01-03T10:00:00+00:00"
    del state["entities"]["events"]["first_at"]  # as older code wrote it
    state_file.write_text(json.dumps(state))
    assert job.first_day(tmp_path) == dt.date(2025, 1, 3)  # read from the event files
    u.flag("b", "p", "2025-02-01T10:00")
    u.land(tmp_path, extracted_at="2026-01-02T00:00")
    assert json.loads(state_file.read_text())["entities"]["events"]["first_at"] == "2025-01-03T10:00:00+00:00"
    assert job.first_day(tmp_path) == dt.date(2025, 1, 3)


def test_the_newest_generation_reaching_a_moment_is_the_newest_whose_first_instant_is_not_after_it(tmp_path):
    import random

    from pipeline.lake import EVERYTHING, Lake

    draw = random.Random(19)
    for _ in range(50):
        lake = Lake(tmp_path)
        firsts = [draw.choice([None, EVERYTHING, *(f"2025-01-{d:02d}T00:00:00+00:00" for d in range(1, 10))])
                  for _ in range(draw.randint(0, 8))]
        lake.state = {**lake.state, "landings": [{"generation": g, "affects_from": f}
                                                 for g, f in enumerate(firsts, start=1)]}
        for day in range(0, 12):
            moment = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=day, hours=12)
            by_hand = max([g for g, f in enumerate(firsts, start=1)
                           if f == EVERYTHING or (f is not None and dt.datetime.fromisoformat(f) <= moment)], default=0)
            assert lake.newest_reaching(moment) == by_hand
