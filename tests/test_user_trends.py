"""userTrends (SPEC §4): who counts, and the 60-day activity window."""

from tests.instance import Instance, day


def test_total_counts_live_human_users_only(tmp_path):
    u = Instance()
    u.user(1, "2025-01-01T09:00")
    u.user(2, "2025-01-01T09:00", deleted="2025-03-15T10:00")
    u.user(3, "2025-01-01T09:00", service=True)
    u.user(4, "2025-01-01T09:00", system=True)
    u.user(5, "2025-04-01T09:00")
    doc = u.insights(tmp_path, "2025-03-14", "2025-04-01")
    assert day(doc, "userTrends", "2025-03-14")["total"] == 2
    assert day(doc, "userTrends", "2025-03-15")["total"] == 1
    assert day(doc, "userTrends", "2025-03-31")["total"] == 1
    assert day(doc, "userTrends", "2025-04-01")["total"] == 2


def test_active_means_seen_in_the_60_days_up_to_the_end_of_the_day(tmp_path):
    # end of 2025-03-31 minus 60 days is 2025-01-30T23:59:59.999: activity must be after it
    u = Instance()
    for user in (1, 2, 3, 4, 5):
        u.user(user, "2025-01-01T09:00")
    u.seen(1, "2025-03-01T12:00")
    u.seen(2, "2025-01-30T23:59:59.999")
    u.seen(3, "2025-01-31T00:00:00")
    u.seen(4, "2025-03-30T08:00", kind="pat")
    u.seen(5, "2025-04-01T08:00")
    row = day(u.insights(tmp_path, "2025-03-31", "2025-03-31"), "userTrends", "2025-03-31")
    assert (row["total"], row["active"], row["inactive"]) == (5, 3, 2)


def test_a_user_goes_inactive_60_days_after_the_last_activity(tmp_path):
    u = Instance()
    u.user(1, "2025-01-01T09:00")
    u.seen(1, "2025-01-02T10:00")
    u.seen(1, "2025-01-10T10:00")
    doc = u.insights(tmp_path, "2025-03-10", "2025-03-11")
    # 2025-01-10T10:00 is within 60 days of the end of 2025-03-10, not of the end of 2025-03-11
    assert [r["active"] for r in doc["userTrends"]] == [1, 0]
    assert [r["inactive"] for r in doc["userTrends"]] == [0, 1]


def test_a_deleted_user_is_not_active_either(tmp_path):
    u = Instance()
    u.user(1, "2025-01-01T09:00", deleted="2025-02-01T09:00")
    u.seen(1, "2025-01-31T10:00")
    row = day(u.insights(tmp_path, "2025-02-02", "2025-02-02"), "userTrends", "2025-02-02")
    assert (row["total"], row["active"], row["inactive"]) == (0, 0, 0)
