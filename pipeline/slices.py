"""Cutting a sorted Arrow table into its runs, one slice per value of a column (no copy)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def runs(table: pa.Table, column: str) -> dict[object, pa.Table]:
    """A table sorted by ``column`` as one slice per distinct value of it, by that value."""
    keys = table[column]
    if pa.types.is_dictionary(keys.type):
        keys = keys.cast(keys.type.value_type)
    encoded = pc.run_end_encode(keys.combine_chunks())
    parts, start = {}, 0
    for key, end in zip(encoded.values.to_pylist(), encoded.run_ends.to_pylist()):
        parts[key] = table.slice(start, end - start)
        start = end
    return parts
