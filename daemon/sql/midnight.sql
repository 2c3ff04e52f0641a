-- midnight: seconds from now until the midnight that ends day $1 in zone $2 (negative when it
-- has passed): the daemon evaluates everyone just after it (service_eval.c). The database's
-- clock decides, DST included.
-- $1 date  the day just evaluated
-- $2 text  the configured time zone
SELECT extract(epoch FROM (($1::date + 1)::timestamp AT TIME ZONE $2) - now());
