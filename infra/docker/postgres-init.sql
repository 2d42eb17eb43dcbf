-- Run once by the postgres image when its data volume is new (docker-compose.yml mounts it
-- into /docker-entrypoint-initdb.d). The audit sink's own login role: it owns nothing and is
-- granted append-only rights on the audit tables by `compliance db grant-writer`.
CREATE ROLE compliance_sink LOGIN PASSWORD 'compliance_sink';
