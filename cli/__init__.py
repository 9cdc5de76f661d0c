"""The command line: `safetynet` (typer). Imports of the jobs are deferred to each command, so `--help`
stays fast.
"""
