"""Ingest: read each delivered file, cast it to the contract, validate it with Great Expectations, place it
by prefecture; the month's delivery report.
"""
