"""Tools beside the product: they read and write a home through the same API as the jobs, and nothing in
the product imports them.
"""
