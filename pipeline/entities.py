"""The raw lake's entities: their columns, and how each is extracted and kept.

Every source hands over these tables with exactly these Arrow schemas. Times are UTC
(``timestamp[us, UTC]``); counts are 64-bit. No entity has a column for a name, username, e-mail,
IP address, strategy parameter or constraint value: personal data has nowhere to land.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TIME = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Entity:
    """One raw entity.

    ``kind`` says how it is kept:
      * ``"events"``: append-only, incremental by ``id`` with an overlap re-read, unique ids;
      * ``"activity"``: append-only set of distinct rows, incremental by ``seen_at``;
      * ``"daily_files"``: one file per UTC day of ``time_column``, re-read from the last landed
        day or hour (which may still grow) and merged on ``key``;
      * ``"snapshot"``: the whole table each run, kept only when it differs from the last one.
    ``key`` identifies a row for merging and diffing, and orders a day file's rows: by flag first,
    so each series' hours lie together (files 40% smaller than in hour order, and read faster by
    every later build); ``time_columns`` are the instants a changed
    row can affect trends from; ``diff_ignores`` are columns whose changes affect no trend (a
    user's ``seen_at`` reaches the trends through ``user_activity``); ``optional`` entities may be
    missing in older Unleash versions.
    """

    name: str
    schema: pa.Schema
    kind: str
    key: tuple[str, ...]
    time_columns: tuple[str, ...] = ()
    time_column: str | None = None
    optional: bool = False
    diff_ignores: tuple[str, ...] = ()


ENTITIES: dict[str, Entity] = {
    entity.name: entity
    for entity in [
        Entity(
            "events",
            pa.schema(
                [
                    ("id", pa.int64()),
                    ("created_at", TIME),
                    ("type", pa.string()),
                    ("feature_name", pa.string()),
                    ("project", pa.string()),
                    ("environment", pa.string()),
                    ("created_by_user_id", pa.int64()),
                    # from data / pre_data, only what the trends need:
                    ("flag_type", pa.string()),  # data.type of a flag event, data.id of feature-type-updated
                    ("stale", pa.bool_()),  # data.stale of feature-created / -import / -metadata-updated
                    ("old_project", pa.string()),  # data.oldProject of feature-project-change
                    ("new_project", pa.string()),  # data.newProject of feature-project-change
                    ("lifetime_days", pa.int64()),  # data.lifetimeDays of feature-type-updated (0 -> null)
                    ("previous_lifetime_days", pa.int64()),  # pre_data.lifetimeDays of the same
                ]
            ),
            kind="events",
            key=("id",),
            time_column="created_at",
        ),
        Entity(
            "features",
            pa.schema(
                [
                    ("name", pa.string()),
                    ("project", pa.string()),
                    ("type", pa.string()),
                    ("stale", pa.bool_()),
                    ("potentially_stale", pa.bool_()),
                    ("created_at", TIME),
                    ("archived_at", TIME),
                ]
            ),
            kind="snapshot",
            key=("name",),
            time_columns=("created_at", "archived_at"),
            diff_ignores=("potentially_stale",),
        ),
        Entity(
            "feature_types",
            pa.schema([("id", pa.string()), ("lifetime_days", pa.int64())]),
            kind="snapshot",
            key=("id",),
        ),
        Entity(
            "feature_environments",
            pa.schema([("feature_name", pa.string()), ("environment", pa.string()), ("enabled", pa.bool_())]),
            kind="snapshot",
            key=("feature_name", "environment"),
        ),
        Entity(
            "environments",
            pa.schema([("name", pa.string()), ("type", pa.string()), ("enabled", pa.bool_())]),
            kind="snapshot",
            key=("name",),
        ),
        Entity(
            "projects",
            pa.schema([("id", pa.string()), ("created_at", TIME), ("archived_at", TIME)]),
            kind="snapshot",
            key=("id",),
            time_columns=("created_at", "archived_at"),
        ),
        Entity(
            "users",
            pa.schema(
                [
                    ("id", pa.int64()),
                    ("created_at", TIME),
                    ("seen_at", TIME),
                    ("deleted_at", TIME),
                    ("is_service", pa.bool_()),
                    ("is_system", pa.bool_()),
                ]
            ),
            kind="snapshot",
            key=("id",),
            time_columns=("created_at", "deleted_at"),
            diff_ignores=("seen_at",),
        ),
        Entity(
            "user_activity",
            pa.schema([("user_id", pa.int64()), ("seen_at", TIME), ("kind", pa.string())]),
            kind="activity",
            key=("user_id", "seen_at", "kind"),
            time_column="seen_at",
        ),
        Entity(
            "project_members",
            pa.schema([("project", pa.string()), ("user_id", pa.int64()), ("since", TIME)]),
            kind="snapshot",
            key=("project", "user_id"),
            time_columns=("since",),
        ),
        Entity(
            "feature_lifecycles",
            pa.schema([("feature", pa.string()), ("stage", pa.string()), ("created_at", TIME)]),
            kind="snapshot",
            key=("feature", "stage", "created_at"),
            time_columns=("created_at",),
            optional=True,
        ),
        Entity(
            "client_metrics",
            pa.schema(
                [
                    ("feature_name", pa.string()),
                    ("app_name", pa.string()),
                    ("environment", pa.string()),
                    ("timestamp", TIME),
                    ("yes", pa.int64()),
                    ("no", pa.int64()),
                ]
            ),
            kind="daily_files",
            key=("feature_name", "app_name", "environment", "timestamp"),
            time_column="timestamp",
        ),
        Entity(
            "client_metrics_daily",
            pa.schema(
                [
                    ("feature_name", pa.string()),
                    ("app_name", pa.string()),
                    ("environment", pa.string()),
                    ("date", pa.date32()),
                    ("yes", pa.int64()),
                    ("no", pa.int64()),
                ]
            ),
            kind="daily_files",
            key=("feature_name", "app_name", "environment", "date"),
            time_column="date",
            optional=True,
        ),
    ]
}

SNAPSHOT_STAMP = "snapshot_at"
"""The column every snapshot file adds: when the source was read (UTC)."""


def conform(entity: Entity, table: pa.Table) -> pa.Table:
    """The table with exactly the entity's columns, in order and cast to its types.

    A missing column is an error that names it; extra columns are dropped, so a source can never
    leak a column the lake does not define.
    """
    missing = [name for name in entity.schema.names if name not in table.column_names]
    if missing:
        raise ValueError(f"source table {entity.name!r} lacks column(s) {', '.join(missing)}")
    return table.select(entity.schema.names).cast(entity.schema)
