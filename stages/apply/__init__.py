"""The apply stage: committed entries applied to the MVCC store on LMDB (DESIGN.md 1, 4).

Modules: schema (the LMDB layout and encodings), read (Range and history reads over one LMDB
transaction), mvcc (MvccStore: the writer and its batches; MvccReader: read-only, for other
processes), txn (compares, plans, checks, execution), compaction (bounded physical compaction,
HashKV), quota (NOSPACE), lease_store and alarm_store (their persistent records).
"""
