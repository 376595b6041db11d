"""A run and a backfill in this process (``pipeline.runs``): what they tell as they go."""

import datetime as dt
import logging

from pipeline import job, runs
from pipeline.sources.sample import SampleSource

LAST = dt.date(2024, 6, 30)


def test_landing_the_sample_says_each_entity_and_sets_its_unknown_flags_aside_as_information(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="pipeline"):
        job.land(tmp_path, SampleSource(LAST))
    lake = [r for r in caplog.records if r.name == "pipeline.lake"]
    assert [r for r in lake if r.levelno >= logging.WARNING] == []  # its unknown flags are deliberate
    unknown = [r.getMessage() for r in lake if "of flags the instance does not know" in r.getMessage()]
    assert unknown and all("see the unknown_flags dataset" in line for line in unknown)
    steps = [r.getMessage() for r in lake if r.getMessage().startswith("landed ") and " of 12 entities)" in r.getMessage()]
    assert steps[0].startswith("landed events: ") and steps[0].endswith("(1 of 12 entities)")
    assert steps[-1].startswith("landed client_metrics_daily: ") and len(steps) == 12


def test_a_backfills_progress_moves_within_a_run_of_months_and_adds_up_to_its_partitions(tmp_path):
    job.land(tmp_path, SampleSource(LAST))
    first = dt.date(2024, 1, 1)
    spans = job.backfill_tasks(tmp_path, job.plan_backfill(tmp_path, first, LAST))
    assert len(spans) == 1  # half a year of the sample is one run of months: progress between spans would not move
    told: list[tuple[int, int]] = []
    result = runs.backfill(runs.Steps(), first, LAST, str(tmp_path), lambda more, total: told.append((more, total)))
    # 182 days, the 26 ISO weeks 2024-01..2024-26, and the usage of 6 months
    assert result["partitions"] == 182 + 26 + 6
    assert len(told) > 10 and {total for _, total in told} == {214} and sum(more for more, _ in told) == 214


def test_in_this_process_an_unavailable_source_is_tried_again_as_the_settings_say(tmp_path, monkeypatch,
                                                                                   connection_attempts):
    import pytest

    from pipeline.sources import SourceUnavailable

    monkeypatch.setenv("INSIGHTS_SOURCE_RETRIES", "2")
    monkeypatch.setenv("INSIGHTS_SOURCE_RETRY_DELAYS", "0")
    with pytest.raises(SourceUnavailable, match="cannot connect"):
        runs.Steps().land(str(tmp_path), "postgresql://insights@127.0.0.1:9/unleash", LAST, 1)
    assert len(connection_attempts) == 3  # the first try and two more
    assert not (tmp_path / "lake").exists()
