"""The raft stage: the node loop around the pure Raft core."""
