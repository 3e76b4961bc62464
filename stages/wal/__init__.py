"""The wal stage: segment files with a CRC per record, group commit, snapshots (DESIGN.md 1)."""
