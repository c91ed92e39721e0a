"""What the command-line tools in ``tools/`` share: argument parsing, exit statuses and reports.

Installed with the distribution (from ``tools/mambavision_tools``) so that a tool in any folder of ``tools/``
imports it, and so that ``python -m mambavision_tools.convert_checkpoint`` works after ``pip install``. The
library packages never import it.
"""
