"""`petcdctl`: etcdctl 3.4's command line for petcd (and etcd), built on petcd.client.

Modules: cli.py (the root command, global flags, errors and exit codes), cmd_*.py (the
commands), display.py (etcdctl's output formats), txn_parse.py (etcdctl's txn language).
"""
