-- state_v8: who was told, and when, outlives retention (ALERTS.md: "the history of an alert is
-- evidence that a supervisor was told, when, and what they did").
-- Run once by the daemon's migration step inside a transaction; @state@ is the escaped name.

-- Retention (prune.sql) deletes delivered notices after retention.days; the alert's events keep
-- what it said, and this keeps to whom and when, one row per delivered notice of an event,
-- written by prune.sql in the statement that deletes the notice: delivery writes nothing more,
-- and nothing is kept twice while the notice is still there. Operators' reports (no event) are
-- not kept. A webhook's destination is kept as shown_url shows it, never its credentials.
-- Nothing to fill now: every notice not yet pruned is still in the outbox.
CREATE TABLE @state@.delivered (
    notice_id    bigint PRIMARY KEY,  -- the outbox row it was (gone: not a reference)
    event_id     bigint NOT NULL REFERENCES @state@.alert_events,
    alert_id     bigint REFERENCES @state@.alerts,
    channel      text NOT NULL,
    destination  text NOT NULL,       -- an email address, or a webhook URL as shown_url shows it
    role         text,
    delivered_at timestamptz NOT NULL
);
CREATE INDEX delivered_event_idx ON @state@.delivered (event_id);

-- A URL as url_redact.c shows it in logs and reports: scheme://host[:port]/path, without the
-- userinfo, the query or the fragment (a webhook's credential lives there: a team's webhook_url
-- signs with its "sig" parameter); an authority that does not read as host[:port] shows as
-- "(unreadable)" (it may be a password with a '/' in it); every byte outside printable ASCII
-- shows as '?'; at most 255 bytes. The daemon reads the database's bytes (client_encoding
-- SQL_ASCII), hence bytes in its encoding. Kept in step with url_redact.c: test_retention.sh
-- checks this against the cases of tests/unit/test_url_redact.c.
CREATE FUNCTION @state@.shown_url(p_url text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pre       text := substring(p_url FROM '^[^?#]*');
    scheme    text := substring(pre FROM '^([A-Za-z][A-Za-z0-9+.-]*)://');
    rest      text;
    authority text;
    hostport  text;
    shown     text;
    b         bytea;
BEGIN
    IF p_url IS NULL THEN
        RETURN '(none)';
    END IF;
    IF p_url = '' THEN
        RETURN '(empty)';
    END IF;
    rest := CASE WHEN scheme IS NULL THEN pre ELSE substr(pre, length(scheme) + 4) END;
    -- a backslash ends the authority too: some parsers take it for a slash
    authority := substring(rest FROM '^[^/\\]*');
    -- the last '@' ends the userinfo: a password may hold an '@' of its own
    hostport := regexp_replace(authority, '^.*@', '');
    IF hostport ~ '^([A-Za-z0-9._~%!$&''()*+,;=-]*|\[[A-Za-z0-9:.%_~-]*\])(:[0-9]{0,5})?$' THEN
        shown := hostport || substr(rest, length(authority) + 1);
    ELSE
        shown := '(unreadable)';
    END IF;
    IF scheme IS NOT NULL THEN
        shown := scheme || '://' || shown;
    END IF;
    b := convert_to(shown, getdatabaseencoding());
    SELECT coalesce(string_agg(CASE WHEN get_byte(b, i) BETWEEN 33 AND 126
                                    THEN chr(get_byte(b, i)) ELSE '?' END, '' ORDER BY i), '')
      INTO shown
      FROM generate_series(0, length(b) - 1) i;
    RETURN left(shown, 255);
END
$$;

INSERT INTO @state@.schema_version (version) VALUES (8);
