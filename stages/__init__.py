"""The pipeline stages of one petcd member (raft, wal, apply, transport, api)."""
