"""The member supervisor: the `petcd` command, process launch and monitoring."""
