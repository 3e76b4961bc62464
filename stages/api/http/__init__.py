"""The HTTP front end: etcd 3.4's JSON gateway (grpc-gateway v1) over the service layer."""
