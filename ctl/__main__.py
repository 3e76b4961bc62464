from petcd.ctl.cli import entry

entry()
