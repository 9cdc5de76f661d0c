"""Applications: checks of an applicant household against the month's data, their authorisations and the
county's release.
"""
