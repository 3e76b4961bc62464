from petcd.ipc.stage import run_stage
from .peer import main

run_stage("transport", main)
