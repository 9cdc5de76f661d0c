"""The monthly job code the DAG's tasks call.

Everything these jobs write holds personal data (names, resident ID numbers, incomes): files are
created readable by their owner and group only, never by other accounts on the machine (umask 027;
published builds are sealed 0440/0550). Auditors read through the group or the sealed connection.
"""

import os

os.umask(0o027)
