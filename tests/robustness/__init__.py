"""Robustness tests: a recorded history of client operations and watches, and the checkers
that judge it (linearizability, watch guarantees, reads against a replay of the writes)."""
