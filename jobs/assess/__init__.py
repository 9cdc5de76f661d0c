"""Assess: assemble each household's month from the sources, score the hardship index, raise warnings and
leads, notice what is new.
"""
