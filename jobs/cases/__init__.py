"""Cases: each lead's lifecycle from queued to closed, the townships' outcomes, visit capacity and what
visits yield.
"""
