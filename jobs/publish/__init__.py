"""Publish: the release gate, the manifest, the warehouse views and the sealed read-only connection, the
deployment record.
"""
