"""Load scripts and the side-by-side comparison with etcd."""
