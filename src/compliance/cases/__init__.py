"""Case management: exceptions grouped into cases per customer and category, decided by
officers; every change of a case is a ``cases.decisions`` event, the tables its projection."""
