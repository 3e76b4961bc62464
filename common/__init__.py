"""Shared types, codec, errors, config, ids and logging for every petcd stage."""
