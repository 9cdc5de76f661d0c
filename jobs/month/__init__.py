"""The monthly DAG's tasks, in order (start, ingest, assess, record, publish), each a short call into the
stages beside it; and the rule trial (shadow).
"""
