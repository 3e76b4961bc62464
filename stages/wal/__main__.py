from .writer import main
from petcd.ipc.stage import run_stage

run_stage("wal", main)
