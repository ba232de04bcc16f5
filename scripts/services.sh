#!/usr/bin/env bash
# Makes sure the services that tests need are running on this machine:
# PostgreSQL on 127.0.0.1:5432 with a database "test" that the postgres user
# reaches without a password, and Redis on 127.0.0.1:6379 (its
# redis-server binary also starts the tests' own throwaway servers). On a
# machine that has none, it installs Debian's packages and starts them.
# Safe to run again.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! ready; then
	if ! command -v pg_ctlcluster >/dev/null 2>&1; then
		echo "services: installing PostgreSQL from Debian's packages..." >&2
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
		installed=1
	fi
	version=$(ls /etc/postgresql | sort -V | tail -n 1)
	if [ "${installed:-0}" = 1 ]; then
		# A fresh cluster asks for passwords over TCP; tests connect as
		# postgres from loopback only.
		hba=/etc/postgresql/$version/main/pg_hba.conf
		sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
	fi
	echo "services: starting PostgreSQL $version..." >&2
	pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
	for _ in $(seq 60); do ready && break; sleep 0.5; done
	ready || { echo "services: PostgreSQL did not start" >&2; exit 1; }
fi
if ! psql -h 127.0.0.1 -U postgres -d test -qtAc 'SELECT 1' >/dev/null 2>&1; then
	psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test' >/dev/null
fi

redis_ready() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! command -v redis-server >/dev/null 2>&1; then
	echo "services: installing Redis from Debian's packages..." >&2
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
if ! redis_ready; then
	echo "services: starting Redis..." >&2
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
	for _ in $(seq 40); do redis_ready && break; sleep 0.25; done
	redis_ready || { echo "services: Redis did not start" >&2; exit 1; }
fi

# Node.js and npm for the LLM SDK conformance matrix (test/sdk/node).
if ! command -v npm >/dev/null 2>&1; then
	echo "services: installing Node.js from Debian's packages..." >&2
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

# Headless Chromium for the browser tests of the console and the portal.
if ! command -v chromium >/dev/null 2>&1; then
	echo "services: installing Chromium from Debian's packages..." >&2
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
