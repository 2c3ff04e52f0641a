# Throwaway PostgreSQL for the tests. Source this file, then:
#   pg_start DIR PORT   start a server with its data and socket under DIR, listening on
#                       127.0.0.1:PORT and a unix socket in DIR, trust auth, fsync off; create
#                       the role and database the tests use; export PGHOST PGPORT PGUSER
#                       PGDATABASE
#   pg_stop DIR         stop it (safe to call twice, and when it never started)
# initdb refuses to run as root: as root, DIR is created owned by user postgres (or nobody when
# there is no postgres user) and the server runs as that user through runuser.
# Environment: PG_BINDIR (default /usr/lib/postgresql/15/bin), PG_TEST_USER and PG_TEST_DB
# (both default dwtest).

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PG_TEST_USER=${PG_TEST_USER:-dwtest}
PG_TEST_DB=${PG_TEST_DB:-dwtest}

_pg_msg() { printf 'pg.sh: %s\n' "$*" >&2; }

# The user the server runs as: empty when we are not root (run directly).
_pg_owner() {
	if [ "$(id -u)" != 0 ]; then
		return 0
	fi
	if id -u postgres >/dev/null 2>&1; then
		echo postgres
	else
		echo nobody
	fi
}

# Runs a command as the server's owner.
_pg_as_owner() {
	local owner
	owner=$(_pg_owner)
	if [ -n "$owner" ]; then
		runuser -u "$owner" -- "$@"
	else
		"$@"
	fi
}

pg_start() {
	local dir=${1:?pg_start DIR PORT} port=${2:?pg_start DIR PORT}
	local owner bin=$PG_BINDIR
	local b
	for b in initdb pg_ctl; do
		if [ ! -x "$bin/$b" ]; then
			_pg_msg "$bin/$b not found: install postgresql-15 (or set PG_BINDIR)"
			return 1
		fi
	done
	if ! command -v psql >/dev/null 2>&1; then
		_pg_msg "psql not found: install postgresql-client-15"
		return 1
	fi
	case $dir in
	/*) ;;
	*) dir=$PWD/$dir ;;
	esac
	owner=$(_pg_owner)
	if [ -n "$owner" ] && ! command -v runuser >/dev/null 2>&1; then
		_pg_msg "running as root, but runuser (util-linux) is missing"
		return 1
	fi
	if [ -e "$dir/data" ]; then
		_pg_msg "$dir/data already exists; give pg_start a fresh directory"
		return 1
	fi
	mkdir -p "$dir" || { _pg_msg "cannot create $dir"; return 1; }
	if [ -n "$owner" ]; then
		chown "$owner" "$dir" || { _pg_msg "cannot give $dir to $owner"; return 1; }
		chmod 0755 "$dir"
		if ! runuser -u "$owner" -- test -w "$dir"; then
			_pg_msg "user $owner cannot write $dir: a parent directory is not searchable by it (chmod a+x the parents, or choose another DIR)"
			return 1
		fi
	fi

	if ! (cd "$dir" && _pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 --no-sync) >"$dir/initdb.log" 2>&1; then
		_pg_msg "initdb failed in $dir/data; its output:"
		sed 's/^/  initdb: /' "$dir/initdb.log" >&2
		return 1
	fi
	cat >>"$dir/data/postgresql.conf" <<EOF
# pg.sh: a throwaway test server
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
max_connections = 50
logging_collector = off
EOF
	if ! (cd "$dir" && _pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start) \
		>"$dir/pg_ctl.log" 2>&1; then
		_pg_msg "the server did not start on port $port; pg_ctl said:"
		sed 's/^/  pg_ctl: /' "$dir/pg_ctl.log" >&2
		_pg_msg "server log ($dir/server.log):"
		tail -n 30 "$dir/server.log" 2>/dev/null | sed 's/^/  server: /' >&2
		pg_stop "$dir"
		return 1
	fi
	if ! psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
		>"$dir/setup.log" 2>&1 <<EOF; then
CREATE ROLE "$PG_TEST_USER" LOGIN SUPERUSER;
CREATE DATABASE "$PG_TEST_DB" OWNER "$PG_TEST_USER";
EOF
		_pg_msg "creating role $PG_TEST_USER and database $PG_TEST_DB failed:"
		sed 's/^/  psql: /' "$dir/setup.log" >&2
		pg_stop "$dir"
		return 1
	fi
	export PGHOST=127.0.0.1 PGPORT=$port PGUSER=$PG_TEST_USER PGDATABASE=$PG_TEST_DB
	return 0
}

pg_stop() {
	local dir=${1:?pg_stop DIR}
	case $dir in
	/*) ;;
	*) dir=$PWD/$dir ;;
	esac
	if [ ! -f "$dir/data/postmaster.pid" ]; then
		return 0
	fi
	if ! (cd "$dir" && _pg_as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop) \
		>"$dir/pg_stop.log" 2>&1; then
		_pg_msg "pg_ctl stop failed for $dir/data:"
		sed 's/^/  pg_ctl: /' "$dir/pg_stop.log" >&2
		return 1
	fi
	return 0
}
