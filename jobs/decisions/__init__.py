"""Assistance decisions (全过程网办, issue 36): the portal's decision log read by the run, the month's
approved decisions exported for the civil-affairs business system, and the roster's confirmation.

The portal appends one line per step (proposed, returned, approved) to
`<home>/lake/_decision_log/<YYYY-MM>.jsonl`; the run of month M reads the lines of months up to M,
writes `_decisions` (the decisions approved in M) and `_decision_states` (every decision approved so
far, 待落实 / 已落实 / 未落实 as the roster of M shows it) into the build, and
`exports/_decisions/decisions.csv` (CONTRACT.md "Assistance decisions").
"""
