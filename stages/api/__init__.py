"""The api stage: HTTP (etcd gateway) and ZeroMQ front ends over one service layer."""
