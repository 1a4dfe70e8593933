#!/bin/sh
# The official image's contract: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB; data in $PGDATA.
set -e
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "$POSTGRES_PASSWORD" > /tmp/pwfile
  su postgres -c "initdb -D $PGDATA -U ${POSTGRES_USER:-postgres} --pwfile=/tmp/pwfile -A scram-sha-256" >/dev/null
  rm /tmp/pwfile
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  su postgres -c "pg_ctl -D $PGDATA -o '-c listen_addresses=localhost' -w start" >/dev/null
  if [ -n "$POSTGRES_DB" ] && [ "$POSTGRES_DB" != "${POSTGRES_USER:-postgres}" ]; then
    PGPASSWORD="$POSTGRES_PASSWORD" psql -h localhost -U "${POSTGRES_USER:-postgres}" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
  elif [ -n "$POSTGRES_DB" ]; then
    PGPASSWORD="$POSTGRES_PASSWORD" psql -h localhost -U "${POSTGRES_USER:-postgres}" -d postgres -tc "SELECT 1 FROM pg_database WHERE datname='$POSTGRES_DB'" | grep -q 1 \
      || PGPASSWORD="$POSTGRES_PASSWORD" psql -h localhost -U "${POSTGRES_USER:-postgres}" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  su postgres -c "pg_ctl -D $PGDATA -m fast -w stop" >/dev/null
fi
exec su postgres -c "exec postgres -D $PGDATA -c listen_addresses=*"
