from petcd.ipc.stage import run_stage
from .loop import main

run_stage("raft", main)
