from .cli import ctl  # noqa: F401  (check perf comes later)
