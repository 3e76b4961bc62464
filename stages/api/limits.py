"""The bounds on what one client may send or hold, and the count of their hits.

Theory of operation: every front end (HTTP gateway, gRPC, ZeroMQ) enforces its bounds itself,
where the bytes or calls arrive; each time a client runs into one, the front end calls `hit`,
and the worker's /metrics shows the running counts as
`petcd_client_limit_hits_total{front_end=..., limit=...}`. The limits are named after the knob
that sets them (common/config.py), so an operator reading the metric knows what to raise:

    header_bytes    --max-request-header-bytes       request line and headers (HTTP 431)
    body_bytes      --max-request-bytes (+512 KiB)   one request message
    txn_depth       --max-txn-ops                    nesting of txns, refused while decoding
                                                     (HTTP: Go's JSON depth limit, 10000)
    streams         --max-concurrent-streams, --zmq-max-streams-per-connection
    watchers        --max-watchers-per-stream
    requests        --zmq-max-requests-per-connection
    queued_bytes    --zmq-max-queued-bytes-per-connection
    stream_window   --zmq-stream-window-bytes        requests a watch stream queued unread

Must never: count anything but a refusal; a hit is a client told no.
"""
from __future__ import annotations

from collections import Counter

from prometheus_client.core import CounterMetricFamily

_HITS: Counter[tuple[str, str]] = Counter()


def hit(front_end: str, limit: str) -> None:
    """A client on `front_end` ("http", "grpc", "zmq") ran into `limit` (see the table)."""
    _HITS[(front_end, limit)] += 1


def hits(front_end: str, limit: str) -> int:
    return _HITS[(front_end, limit)]


class LimitHitsCollector:
    """prometheus_client collector of the hits counted in this process."""

    def collect(self):
        family = CounterMetricFamily("petcd_client_limit_hits",
                                     "client requests refused by a bound on one client "
                                     "(front_end, limit: see stages/api/limits.py)",
                                     labels=("front_end", "limit"))
        for (front_end, limit), n in sorted(_HITS.items()):
            family.add_metric((front_end, limit), n)
        yield family
