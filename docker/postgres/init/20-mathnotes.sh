#!/bin/sh
# PostgreSQL first-start hook: the notes library's database, its owner and Grafana's read-only role.
#
# docker-compose.prod.yml mounts this folder at /docker-entrypoint-initdb.d, so the image runs it once, on
# the first start of an empty data folder, as the cluster's superuser (POSTGRES_USER, n8n's user). It makes:
#   role mathnotes           the library's owner; the vision service logs in as it (MATHNOTES_DB_PASSWORD)
#   database mathnotes       owned by mathnotes, with the vector extension (pgvector: only a superuser may
#                            create it; the library's migrations create everything else)
#   role mathnotes_grafana   Grafana's data source (MATHNOTES_GRAFANA_DB_PASSWORD): read-only transactions,
#                            30 s per statement, at most 8 connections; the library's migrations grant it
#                            SELECT on notes(id, owner, task, language, source, created_at, checked_steps,
#                            wrong_steps), note_formulas and search_log, since it exists before they run:
#                            never the pages' text, answers, images or embeddings
# Neither role may connect to n8n's database (n8n's user is the server's superuser, as the image makes
# POSTGRES_USER).
#
# Safe to run again, e.g. for a deployment older than the library:
#   docker compose -p mathnotes -f docker-compose.prod.yml exec postgres /docker-entrypoint-initdb.d/20-mathnotes.sh
# and to change a password: with `exec -e MATHNOTES_DB_PASSWORD -e MATHNOTES_GRAFANA_DB_PASSWORD` and the new
# values in the calling shell's environment (the container's still holds the old ones; DEPLOY.md "Notes library").
# Passwords are read from the environment by psql (\getenv), never put on a command line.
set -eu

: "${MATHNOTES_DB_PASSWORD:?20-mathnotes: MATHNOTES_DB_PASSWORD is not set}"
: "${MATHNOTES_GRAFANA_DB_PASSWORD:?20-mathnotes: MATHNOTES_GRAFANA_DB_PASSWORD is not set}"
export POSTGRES_DB="${POSTGRES_DB:-postgres}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" --dbname "$POSTGRES_DB" <<'SQL'
\getenv owner_password MATHNOTES_DB_PASSWORD
\getenv grafana_password MATHNOTES_GRAFANA_DB_PASSWORD
\getenv n8n_db POSTGRES_DB
SET client_min_messages = warning;

SELECT 'CREATE ROLE mathnotes' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mathnotes')
\gexec
ALTER ROLE mathnotes WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'owner_password';
SELECT 'CREATE ROLE mathnotes_grafana' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mathnotes_grafana')
\gexec
ALTER ROLE mathnotes_grafana WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT
    CONNECTION LIMIT 8 PASSWORD :'grafana_password';
ALTER ROLE mathnotes_grafana SET default_transaction_read_only = on;
ALTER ROLE mathnotes_grafana SET statement_timeout = '30s';

SELECT 'CREATE DATABASE mathnotes OWNER mathnotes ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mathnotes')
\gexec
REVOKE ALL ON DATABASE mathnotes FROM PUBLIC;
GRANT CONNECT ON DATABASE mathnotes TO mathnotes_grafana;
REVOKE CONNECT, TEMPORARY ON DATABASE :"n8n_db" FROM PUBLIC;

\connect mathnotes
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO mathnotes_grafana;
SQL
echo "20-mathnotes: database mathnotes, roles mathnotes and mathnotes_grafana ready"
