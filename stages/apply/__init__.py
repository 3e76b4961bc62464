"""The apply stage: committed entries applied to the MVCC store on LMDB (DESIGN.md 1, 4)."""
