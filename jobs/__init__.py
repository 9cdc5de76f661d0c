"""The monthly job code the DAG's tasks call.

Everything these jobs write holds personal data (names, resident ID numbers, incomes): files are
created readable by their owner and group only, never by other accounts on the machine (umask 027;
published builds are sealed 0440/0550). Auditors read through the group or the sealed connection.
"""

import os

import safetynet  # noqa: F401  (sets Polars' allocator before any job imports Polars)

os.umask(0o027)
