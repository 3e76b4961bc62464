"""Locks and elections built on the client, as etcd's clientv3/concurrency builds them.

Theory of operation (etcd's recipe): a Session is a lease kept alive. To queue, a client puts
`<prefix>/<lease id in hex>` with that lease, in a txn that only creates it (compare
create_revision == 0), so re-entering with the same session keeps its place. Its place is the
key's create_revision: the owner (lock holder, leader) is the key with the smallest create
revision under the prefix. A waiter watches only the key just before its own (the newest key
with a create revision below its own) for deletion, then looks again; so one deletion wakes
one waiter, never a herd. Leaving deletes the key; a crashed client's key goes when its lease
expires. Nothing here is server-side: it works against any etcd (or petcd with watch).
"""
from __future__ import annotations

from petcd.common import kv
from . import errors, txn as t
from .lease import KeepAlive
from .ranges import to_bytes


class Session:
    def __init__(self, client, ttl_s: int = 60, lease_id: int = 0) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.lease_id = lease_id
        self._ka: KeepAlive | None = None

    def open(self) -> Session:
        if not self.lease_id:
            self.lease_id = self.client.lease_grant(self.ttl_s).id
        self._ka = KeepAlive(self.client, self.lease_id).start()
        return self

    def close(self) -> None:
        if self._ka is not None:
            self._ka.stop()
        try:
            self.client.lease_revoke(self.lease_id)
        except errors.NotFound:
            pass

    def __enter__(self) -> Session:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def _wait_deletes(client, prefix: bytes, max_create_revision: int) -> None:
    """Wait until no key under prefix has a create revision <= max_create_revision."""
    while True:
        r = client.get(prefix, prefix=True, sort_order=kv.SortOrder.DESCEND,
                       sort_target=kv.SortTarget.CREATE, limit=1,
                       max_create_revision=max_create_revision)
        if not r.kvs:
            return
        _wait_delete(client, r.kvs[0].key, r.header.revision)


def _wait_delete(client, key: bytes, revision: int) -> None:
    with client.watch(key, start_revision=revision + 1) as w:
        for resp in w:
            if any(ev.type == kv.EventType.DELETE for ev in resp.events):
                return


class _Queued:
    """Shared by Lock and Election: a key under `<name>/` held by a session's lease."""

    def __init__(self, client, name, *, ttl_s: int = 60, session: Session | None = None):
        self.client = client
        self.prefix = to_bytes(name) + b"/"
        self.ttl_s = ttl_s
        self.session = session
        self._own_session = session is None
        self.key = b""
        self.revision = 0

    def _enqueue(self, value: bytes) -> kv.TxnResponse:
        if self.session is None:
            self.session = Session(self.client, self.ttl_s).open()
        self.key = self.prefix + b"%x" % self.session.lease_id
        resp = self.client.txn(t.Txn().when(t.create(self.key) == 0)
                               .then(t.put(self.key, value, lease=self.session.lease_id))
                               .otherwise(t.get(self.key)))
        if resp.succeeded:
            self.revision = resp.header.revision
        else:
            self.revision = resp.responses[0].response_range.kvs[0].create_revision
        return resp

    def _dequeue(self) -> None:
        if self.key:
            self.client.delete(self.key)
            self.key = b""
        if self._own_session and self.session is not None:
            self.session.close()
            self.session = None


class Lock(_Queued):
    """with client.lock("name"): ...  (`key` is the owner key, as `etcdctl lock` prints)"""

    def acquire(self) -> Lock:
        try:
            self._enqueue(b"")
            _wait_deletes(self.client, self.prefix, self.revision - 1)
        except BaseException:
            self._dequeue()
            raise
        return self

    def release(self) -> None:
        self._dequeue()

    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class Election(_Queued):
    def campaign(self, value) -> Election:
        """Block until elected with `value` as the proposal."""
        v = to_bytes(value)
        try:
            resp = self._enqueue(v)
            if not resp.succeeded and resp.responses[0].response_range.kvs[0].value != v:
                self.proclaim(v)
            _wait_deletes(self.client, self.prefix, self.revision - 1)
        except BaseException:
            self._dequeue()
            raise
        return self

    def proclaim(self, value) -> None:
        resp = self.client.txn(t.Txn().when(t.create(self.key) == self.revision)
                               .then(t.put(self.key, value, lease=self.session.lease_id)))
        if not resp.succeeded:
            raise errors.FailedPrecondition("election: not leader")

    def resign(self) -> None:
        self._dequeue()

    def leader(self) -> kv.KeyValue | None:
        r = self.client.get(self.prefix, prefix=True, sort_order=kv.SortOrder.ASCEND,
                            sort_target=kv.SortTarget.CREATE, limit=1)
        return r.kvs[0] if r.kvs else None

    def observe(self):
        """Yield the leader's KeyValue each time it changes (a new leader or a proclaim)."""
        last = None
        while True:
            r = self.client.get(self.prefix, prefix=True, sort_order=kv.SortOrder.ASCEND,
                                sort_target=kv.SortTarget.CREATE, limit=1)
            rev = r.header.revision
            if r.kvs:
                cur = r.kvs[0]
                if last is None or (cur.key, cur.mod_revision) != (last.key, last.mod_revision):
                    last = cur
                    yield cur
                watch = self.client.watch(cur.key, start_revision=rev + 1)
            else:
                watch = self.client.watch(self.prefix, prefix=True, start_revision=rev + 1)
            with watch:
                for resp in watch:
                    if resp.events:
                        break
