"""The transport stage: Raft messages between members over ZeroMQ TCP."""
