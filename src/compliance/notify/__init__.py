"""The notifier: exceptions posted to Slack and Microsoft Teams webhooks, per route.

- ``routes``: the routes from configuration (``config/notifier.yaml``): which webhook (by the
  name of the environment variable holding its URL), which severities and categories, what
  each shows;
- ``masking``: document numbers and personal text masked before anything leaves;
- ``notice``: what one route shows of one exception, built when the exception is read, its
  personal parts sealed;
- ``slack`` / ``teams``: the message each webhook takes (Block Kit / Adaptive Card);
- ``backoff``: when to try again (exponential with jitter, Retry-After honoured);
- ``delivery``: one HTTP attempt and what its answer means;
- ``store``: the outbox in PostgreSQL, one row per (exception, route);
- ``dispatcher``: per-route workers delivering the outbox's pending rows;
- ``failures``: the dead-letter record of a notification given up on.
"""
