"""What the site and the audit pack both show, defined once: the report queries (``sql/``,
aggregates over the marts, run on the warehouse or on an audit period's scratch catalog) and
how numbers and verdicts read (``formatting.py``)."""
