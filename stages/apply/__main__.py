from petcd.ipc.stage import run_stage
from .applier import main

run_stage("apply", main)
