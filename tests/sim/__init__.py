"""A seeded simulator of whole Raft clusters, in the style of TigerBeetle's VOPR.

One seed drives one run: a Scenario (scenario.py) drawn from the seed sets the cluster size,
the Raft knobs and the fault rates, and a random stream derived from it decides every message's
fate, every disk and apply latency and every client request. Nodes (node.py) drive RawNodes
through the asynchronous Ready contract over a fake disk (disk.py) and a fake network
(network.py); faults (faults.py) crash, partition and cut; clients (client.py) propose, read,
transfer leadership and change membership; the checker (checks.py) verifies Raft's safety
properties after every step, and the liveness check (liveness.py) that the cluster recovers
once the faults stop. cluster.py wires it together; run.py runs and replays seeds.

    pytest tests/sim                          # seeds 0..299 and a determinism check
    SIM_SEED=17 pytest tests/sim              # replay seed 17 only
    python -m tests.sim.run --seed 17 -vv     # replay seed 17 with a full trace
    SIM_SEEDS=5000 pytest -m slow tests/sim   # many more seeds
"""
