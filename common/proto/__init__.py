"""etcd's protocol files and the modules generated from them (generate.py)."""
