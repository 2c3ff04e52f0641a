#!/bin/sh
# Turns each rules/NAME.sql given into a C string `sql_NAME`, so the daemon carries its SQL
# and cannot run against a different copy than the one it was tested with.
#
#   sh rules/embed_sql.sh FILE.sql... > build/sql_embed.c
#   sh rules/embed_sql.sh --print FILE.sql [--incremental | --lookup]   a statement as embedded
#
# Includes. A line that is exactly `-- @include NAME.sql` is replaced by the text of NAME.sql
# (expanded the same way), found in the directory of the file that includes it; that is how a
# rule is one whole statement made of shared parts. NAME is a plain file name, so a fragment
# lives beside the files that include it and the Makefile's wildcard over rules/*.sql sees it.
# A fragment is not a statement: the Makefile keeps it out of the FILEs (SQL_FRAGMENTS), and
# naming one as a FILE while another FILE includes it is an error, as are a missing included
# file, an include cycle and a malformed directive.
#
# Parameters by name. A statement whose text (with its includes) declares parameters, one line
# each, `-- @param NAME TYPE [what it is]`, is written with `:NAME` where the value goes; the k-th declared
# is sent as $k, and each `:NAME` becomes `$k::TYPE` here. `:NAME` is a placeholder outside
# comments, quoted strings and identifiers when it does not follow a ':' (a cast) or a letter,
# digit or '_'. Such a statement may not use `$k` itself, nor a `:name` it does not declare.
# The caller binds the values in the declared order (eval.c's eval_param).
#
# The incremental form. A statement with a line `-- @incremental NAME` is also embedded as
# `sql_FILE_incremental`, for a call where parameter NAME is never NULL (a few given children):
# there every `:NAME IS NULL` is `false`, which a generic plan folds away. The statement should
# use `:NAME` nowhere else but as `= ANY (:NAME)` and in the head's naming of it (the unit test
# test_eval_sql checks that every rule does).
#
# The lookup form. A line whose code ends in one `IN (SELECT ...)` and which ends with the comment
# `-- @lookup REL` (children, allocations, appointments or referrals) keeps that semi-join in
# the two forms above. A statement with `-- @incremental` is also embedded as `sql_FILE_lookup`:
# the full form with each such `child_id IN (SELECT ...)` written
# `child_id_raw = ANY (ARRAY(SELECT ...) COLLATE "default")`. A hash semi-join reads the
# whole relation for a few thousand hits; the array is looked up in an index, one descent per
# hit, but without an index it is compared with every row, element by element. The probe is on
# the column as it is (rows_REL.sql's child_id_raw) in the database's collation: the rows' own
# child_id is text COLLATE "C", which no index of a column in another collation serves, and a
# lookup that no index serves is one pass over the relation per hit. So eval.c runs the lookup
# form only while those four relations have a text (or varchar) child_id in the database's
# collation with an index that serves it (EVAL_LOOKUP_SQL, EVAL_LOOKUP_RELATIONS), and no
# other may be named; ids equal in that (deterministic) collation are equal byte for byte.
#
# On any error nothing is written to standard output, and the message names the file and line.
set -eu

me=rules/embed_sql.sh
die() {
	echo "$me: $*" >&2
	exit 1
}

# canon FILE: an absolute, symlink-free name for FILE (one file, one name, for cycles).
canon() {
	printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd -P)" "$(basename "$1")"
}

# expand FILE CHAIN: FILE with its includes expanded, on standard output. CHAIN lists the files
# being expanded (canonical names, each followed by "|"), outermost first. Every included file's
# canonical name is appended to $included. Runs in a subshell: its variables are its own.
expand() (
	file=$1 chain=$2 lineno=0
	# Most files include nothing: copy them whole (awk ends the last line with a newline too).
	if ! grep -q '@include' "$file"; then
		awk -v f="$file" '{ print f ":" NR >>origins; print }' origins="$origins" "$file"
		exit
	fi
	while IFS= read -r line || [ -n "$line" ]; do
		lineno=$((lineno + 1))
		# A comment line whose text starts with @include is a directive, well formed or not.
		rest=${line#"${line%%[![:space:]]*}"}
		case $rest in
		--*)
			rest=${rest#--}
			rest=${rest#"${rest%%[![:space:]]*}"} ;;
		*) rest= ;;
		esac
		case $rest in
		@include*) ;;
		*)
			printf '%s\n' "$line"
			printf '%s:%s\n' "$file" "$lineno" >>"$origins"
			continue ;;
		esac
		case $line in
		'-- @include '?*) ;;
		*) die "$file:$lineno: malformed include (want a line that is exactly '-- @include NAME.sql'): $line" ;;
		esac
		name=${line#-- @include }
		case $name in
		*.sql) ;;
		*) die "$file:$lineno: include '$name': want a plain file name ending in .sql" ;;
		esac
		case $name in
		.* | *[!A-Za-z0-9_.-]*)
			die "$file:$lineno: include '$name': want a plain file name (letters, digits, _ . -) in the same directory" ;;
		esac
		inc=$(dirname "$file")/$name
		[ -f "$inc" ] && [ -r "$inc" ] || die "$file:$lineno: included file $inc does not exist"
		key=$(canon "$inc")
		case "|$chain" in
		*"|$key|"*)
			die "$file:$lineno: include cycle: $(printf '%s' "$chain" | sed 's/|/ -> /g')$key" ;;
		esac
		printf '%s\n' "$key" >>"$included"
		expand "$inc" "$chain$key|" || exit 1
	done <"$file"
)

# translate MODE: standard input (an expanded statement) with its parameters by name made
# positional (see the top), on standard output; MODE is "full", "incremental" or "lookup". $origins
# names each input line's file and line for messages.
translate() {
	awk -v mode="$1" -v origins="$origins" -v me="$me" '
	function fail(msg, at) {
		printf "%s: %s: %s\n", me, origin[at], msg > "/dev/stderr"
		bad = 1
		exit 1
	}
	BEGIN { n = 0 }
	{
		line[NR] = $0
		if ((getline o < origins) > 0) origin[NR] = o
		else origin[NR] = "line " NR
	}
	/^[ \t]*--[ \t]*@param/ {
		if ($0 !~ /^-- @param [a-z_][a-z0-9_]* [A-Za-z_][A-Za-z0-9_]*(\[\])?([ \t].*)?$/)
			fail("malformed parameter (want a line \"-- @param name type [what it is]\"): " $0, NR)
		if ($3 in num)
			fail("parameter :" $3 " declared twice", NR)
		num[$3] = ++n
		type[$3] = $4
	}
	/^[ \t]*--[ \t]*@incremental/ {
		if ($0 !~ /^-- @incremental [a-z_][a-z0-9_]*$/)
			fail("malformed directive (want a line \"-- @incremental name\"): " $0, NR)
		scope = $3
		scope_at = NR
	}
	END {
		if (bad)
			exit 1
		if (scope != "" && !(scope in num))
			fail("@incremental names :" scope ", which is not a declared parameter", scope_at)
		nulls = 0
		for (i = 1; i <= NR; i++)
			print convert(lookup(line[i], i), i)
		if (mode == "incremental" && nulls == 0)
			fail("@incremental :" scope ", but no \":" scope " IS NULL\" is there to drop", scope_at)
	}
	# A line ending "-- @lookup REL" (see the top): checked in every form, rewritten in the
	# lookup form.
	function lookup(s, at,    k, code, rel, probe, gap) {
		k = index(s, "-- @lookup")
		if (k == 0)
			return s
		rel = substr(s, k + 10)
		sub(/^[ \t]+/, "", rel)
		sub(/[ \t]+$/, "", rel)
		if (rel !~ /^(children|allocations|appointments|referrals)$/)
			fail("@lookup names \"" rel "\": only children, allocations, appointments and referrals, whose indexes eval.c checks (EVAL_LOOKUP_RELATIONS)", at)
		code = substr(s, 1, k - 1)
		sub(/[ \t]+$/, "", code)
		probe = code
		if (gsub(/ IN \(SELECT /, "", probe) != 1 || substr(code, length(code), 1) != ")")
			fail("@lookup: want one \"IN (SELECT ...)\" that ends the line", at)
		if (code !~ /(^|[^A-Za-z0-9_.])child_id IN \(SELECT /)
			fail("@lookup: want \"child_id IN (SELECT ...)\"", at)
		if (mode != "lookup")
			return s
		gap = substr(s, length(code) + 1, k - 1 - length(code))
		sub(/child_id IN \(SELECT /, "child_id_raw = ANY (ARRAY(SELECT ", code)
		return code " COLLATE \"default\")" gap substr(s, k)
	}
	# One line: placeholders outside comments, strings and quoted identifiers. quote is the
	# quote character open across lines ("" when none).
	function convert(s, at,    out, i, c, prev, name, j, rest) {
		out = ""
		prev = ""
		i = 1
		while (i <= length(s)) {
			c = substr(s, i, 1)
			if (quote != "") {
				out = out c
				if (c == quote)
					quote = ""
				i++
				prev = c
				continue
			}
			if (c == "-" && substr(s, i + 1, 1) == "-")
				return out substr(s, i)
			if (c == "\047" || c == "\"") {
				quote = c
				out = out c
				i++
				prev = c
				continue
			}
			if (c == "$" && substr(s, i + 1, 1) ~ /[0-9]/ && n > 0)
				fail("a statement with named parameters uses $" substr(s, i + 1, 1) \
				     "; write the parameter by name", at)
			if (c == ":" && prev !~ /[:A-Za-z0-9_]/ && substr(s, i + 1, 1) ~ /[a-z_]/) {
				rest = substr(s, i + 1)
				match(rest, /^[a-z_][a-z0-9_]*/)
				name = substr(rest, 1, RLENGTH)
				if (!(name in num))
					fail("\":" name "\" is not a declared parameter (-- @param " name " TYPE)", at)
				j = i + 1 + RLENGTH
				if (mode == "incremental" && name == scope && substr(s, j, 8) == " IS NULL") {
					out = out "false"
					nulls++
					i = j + 8
					prev = "e"
					continue
				}
				out = out "$" num[name] "::" type[name]
				i = j
				prev = "e"
				continue
			}
			out = out c
			prev = c
			i++
		}
		return out
	}'
}

tmp=$(mktemp "${TMPDIR:-/tmp}/embed_sql.XXXXXX")
included=$(mktemp "${TMPDIR:-/tmp}/embed_sql.XXXXXX")
origins=$(mktemp "${TMPDIR:-/tmp}/embed_sql.XXXXXX")
out=$(mktemp "${TMPDIR:-/tmp}/embed_sql.XXXXXX")
text=$(mktemp "${TMPDIR:-/tmp}/embed_sql.XXXXXX")
trap 'rm -f "$tmp" "$included" "$origins" "$out" "$text"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# literal NAME FILE: FILE as the C string NAME.
literal() {
	printf 'const char %s[] =\n' "$1" >>"$out"
	# Escape backslashes and quotes; keep each line as its own literal for readable errors.
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$2" >>"$out"
	printf '\t"";\n' >>"$out"
}

# expanded FILE: FILE with its includes in $tmp, the origin of each line in $origins.
expanded() {
	[ -f "$1" ] && [ -r "$1" ] || die "$1 does not exist"
	: >"$origins"
	expand "$1" "$(canon "$1")|" >"$tmp" || exit 1
}

if [ "${1:-}" = --print ]; then
	[ $# -ge 2 ] || die "usage: embed_sql.sh --print FILE.sql [--incremental | --lookup]"
	mode=full
	[ "${3:-}" = --incremental ] && mode=incremental
	[ "${3:-}" = --lookup ] && mode=lookup
	expanded "$2"
	translate "$mode" <"$tmp" >"$text" || exit 1
	cat "$text"
	exit 0
fi

echo '/* Generated by rules/embed_sql.sh from the .sql files: do not edit. */' >"$out"
for f in "$@"; do
	name=$(basename "$f" .sql)
	case $name in
	'' | [0-9]* | *[!A-Za-z0-9_]*) die "$f: the name gives no C identifier sql_$name" ;;
	esac
	expanded "$f"
	translate full <"$tmp" >"$text" || exit 1
	literal "sql_$name" "$text"
	if grep -q '^-- @incremental ' "$tmp"; then
		translate incremental <"$tmp" >"$text" || exit 1
		literal "sql_${name}_incremental" "$text"
		translate lookup <"$tmp" >"$text" || exit 1
		literal "sql_${name}_lookup" "$text"
	fi
done

# A fragment embedded as a statement of its own would be a second, unused copy of its text.
for f in "$@"; do
	if grep -Fqx "$(canon "$f")" "$included"; then
		die "$f is included by another file, so it is a fragment, not a statement: list it in the Makefile's SQL_FRAGMENTS"
	fi
done
cat "$out"
