"""Consumer lag per partition, read from librdkafka's statistics JSON (`stats_cb`)."""

from __future__ import annotations

import orjson

__all__ = ["lag_from_stats"]


def lag_from_stats(stats_json: str | bytes) -> dict[tuple[str, int], int]:
    """`consumer_lag` (high watermark minus committed offset) of every assigned partition.

    Partitions librdkafka reports with lag -1 (nothing committed or fetched yet) and its
    internal partition -1 are left out: a missing sample beats a wrong one.
    """
    try:
        stats = orjson.loads(stats_json)
    except orjson.JSONDecodeError:
        return {}
    out: dict[tuple[str, int], int] = {}
    for topic, topic_stats in (stats.get("topics") or {}).items():
        for key, partition in (topic_stats.get("partitions") or {}).items():
            partition_id = int(key)
            lag = partition.get("consumer_lag", -1)
            if partition_id < 0 or lag is None or lag < 0:
                continue
            out[(topic, partition_id)] = int(lag)
    return out
