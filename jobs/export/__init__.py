"""Export: what townships and counties receive - returnable lists, household reports, portraits, overviews."""
