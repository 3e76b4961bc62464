"""The Python client (ZeroMQ and HTTP) and `petcdctl`."""
