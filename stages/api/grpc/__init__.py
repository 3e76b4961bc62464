"""The gRPC front end: etcd's gRPC services (etcdserverpb, v3lockpb, v3electionpb, health) over the service layer."""
