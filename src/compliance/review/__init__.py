"""The review application (`compliance run review-ui`): server-rendered pages where officers
log in, work the queue of cases and decide them.

It reads cases only through ``compliance.cases.queries``, changes them only through
``compliance.cases.desk`` (each change a ``cases.decisions`` event) and logs officers in
through ``compliance.officers``. Pages are Jinja2 templates with autoescaping on everywhere
(documents are written by outsiders), served without any script; every form carries the
session's CSRF token, every response the security headers of ``headers``.
"""
