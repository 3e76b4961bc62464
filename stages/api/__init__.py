"""The api stage: gRPC (etcd's services), HTTP (etcd's gateway) and ZeroMQ (native) front
ends over one service layer."""
