"""Inter-process plumbing: the pipe table, typed ZeroMQ channels, the event loop."""
