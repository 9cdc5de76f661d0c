"""Means test: the SQL cross-checks of recipients' income and assets against the standards
(warehouse/means_test/).
"""
