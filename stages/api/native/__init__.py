"""The native front end: msgpack frames over ZeroMQ, over the service layer."""
