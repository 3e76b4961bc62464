from petcd.ipc.stage import run_stage
from .worker import main

run_stage("api", main)
