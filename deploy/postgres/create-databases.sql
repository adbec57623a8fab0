-- One database per bounded context: no service can read another's tables.
-- The postgres image runs this once, when it initialises an empty data volume; a service
-- added later needs its database created by hand on an existing volume (see deploy/README.md).
CREATE DATABASE identity;
CREATE DATABASE catalog;
