"""The check kinds, one module per family. Importing this package registers them all."""

from compliance.rules.kinds import (  # noqa: F401  (imported for their registrations)
    classification,
    consent,
    consistency,
    dates,
    identifiers,
    identity,
    lists,
    screening,
)
