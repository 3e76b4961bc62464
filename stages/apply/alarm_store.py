"""Active alarms (etcd's alarm store), replicated through raft and persisted with the data.

Theory of operation. An alarm is (member id, alarm type); activating or deactivating one is an
applied raft entry, so every member holds the same set and the NOSPACE cap (quota.py) switches
on at the same log position everywhere. Type numbers are etcdserverpb.AlarmType's.

Must never: be changed from local observations (a member's own db size); those only *propose*.
"""
from __future__ import annotations

from petcd.common.cluster import AlarmType
from petcd.stages.apply.schema import ALARM_KEY, Dbs




def activate(txn, dbs: Dbs, member_id: int, alarm: int) -> bool:
    """True if the alarm was not active before."""
    return txn.put(ALARM_KEY.pack(member_id, alarm), b"", db=dbs.alarm, overwrite=False)


def deactivate(txn, dbs: Dbs, member_id: int, alarm: int) -> bool:
    """True if the alarm was active."""
    return txn.delete(ALARM_KEY.pack(member_id, alarm), db=dbs.alarm)


def active(txn, dbs: Dbs) -> list[tuple[int, AlarmType]]:
    out = []
    for k in txn.cursor(db=dbs.alarm).iternext(keys=True, values=False):
        member_id, alarm = ALARM_KEY.unpack(k)
        out.append((member_id, AlarmType(alarm)))
    return out


def any_active(txn, dbs: Dbs, alarm: int) -> bool:
    return any(a == alarm for _, a in active(txn, dbs))
