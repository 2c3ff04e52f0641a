-- re_referral: a child referred again within 12 months of an earlier referral, or a third time in 24 months, with neglect among the reasons.
-- RULES.md: the current referral is the child's latest referral received by T (ties: the greatest
-- referral_id), looked at only while it is open on T; earlier referrals are the child's others
-- received strictly before it; a referral counts for neglect when neglect is true or its
-- primary need is N1. Bad rows (no referral_date, a closure before the referral) take no part.
-- Options: window_months (12), cycle_months (24), cycle_count (3).
-- @incremental child_ids
-- @include head.sql
,
-- @include tail_rows.sql
,
-- @include rows_referrals.sql
,
rr_candidates AS (
    -- Any row received by T and open on T names a child whose current referral may be open;
    -- the rows of every other child are never sorted.
    SELECT DISTINCT child_id
    FROM referrals_rows
    WHERE keyed AND referral_date <= :as_of
      AND (closure_date IS NULL OR closure_date > :as_of)
),
rr_refs AS (
    -- The candidates' referrals, settled (one per key, the first by content, dropped unless
    -- sound), received by T.
    SELECT referral_id, child_id, referral_date, primary_need, closure_date, closure_reason,
           neglect IS TRUE OR primary_need = 'N1' AS for_neglect
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", referral_id COLLATE "C") * FROM referrals_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM rr_candidates)
          ORDER BY child_id COLLATE "C", referral_id COLLATE "C", referral_date, primary_need, neglect, closure_date, closure_reason) first_by_content
    WHERE sound AND referral_date <= :as_of
),
rr_current AS (
    -- The current referral, while it is open on T.
    SELECT *
    FROM (SELECT DISTINCT ON (child_id COLLATE "C") *
          FROM rr_refs
          ORDER BY child_id COLLATE "C", referral_date DESC, referral_id DESC) latest
    WHERE closure_date IS NULL OR closure_date > :as_of
),
rr_earlier AS (
    -- Each current referral's child with every earlier referral of that child, joined on
    -- child_id (a child's few referrals meet only each other), and where it falls: on or after
    -- the current date - window_months (12m), after the current date - cycle_months (cycle).
    SELECT e.*, c.for_neglect AS c_neglect,
           e.referral_date >= (c.referral_date
                               - make_interval(months => coalesce((:options ->> 'window_months')::int, 12)))::date
               AS in_window,
           e.referral_date > (c.referral_date
                              - make_interval(months => coalesce((:options ->> 'cycle_months')::int, 24)))::date
               AS in_cycle
    FROM rr_current c
    JOIN rr_refs e ON e.child_id = c.child_id
    WHERE e.referral_date < c.referral_date
),
rr_counts AS (
    SELECT child_id,
           bool_or(in_window AND (c_neglect OR for_neglect)) AS reached_12m,
           count(*) FILTER (WHERE in_cycle) AS earlier_in_cycle,
           bool_or(in_cycle AND for_neglect) AS neglect_in_cycle
    FROM rr_earlier
    GROUP BY child_id
),
rr_previous AS (
    -- The previous referral: the latest earlier one (ties: the greatest referral_id).
    SELECT DISTINCT ON (child_id COLLATE "C") *
    FROM rr_earlier
    ORDER BY child_id COLLATE "C", referral_date DESC, referral_id DESC
),
rr_staged AS (
    SELECT c.child_id, c.referral_id, c.referral_date, c.primary_need, c.for_neglect,
           c.closure_date, c.closure_reason, n.earlier_in_cycle,
           p.referral_id AS prev_id, p.referral_date AS prev_date, p.primary_need AS prev_need,
           p.for_neglect AS prev_neglect, p.closure_date AS prev_closure,
           p.closure_reason AS prev_reason,
           CASE WHEN n.earlier_in_cycle + 1 >= coalesce((:options ->> 'cycle_count')::int, 3)
                     AND (c.for_neglect OR n.neglect_in_cycle) THEN 'cycle'
                WHEN n.reached_12m THEN '12m' END AS stage,
           -- whole calendar months from the previous referral's closure to this referral,
           -- clamped as episodes.sql counts them; NULL when it had not closed by then
           CASE WHEN p.closure_date <= c.referral_date
                THEN m.n - ((p.closure_date + make_interval(months => m.n))::date > c.referral_date)::int
           END AS months_after_closure
    FROM rr_current c
    JOIN rr_counts n ON n.child_id = c.child_id
    JOIN rr_previous p ON p.child_id = c.child_id
    CROSS JOIN LATERAL (
        SELECT ((extract(year FROM c.referral_date) - extract(year FROM p.closure_date)) * 12
                + extract(month FROM c.referral_date) - extract(month FROM p.closure_date))::int AS n
    ) m
),
rr_lists AS (
    -- The referrals of the cycle window, built only for the children who have a stage: most
    -- children with earlier referrals have none, and a list is the costly part of a row.
    SELECT e.child_id,
           jsonb_agg(jsonb_build_object('referral_id', e.referral_id,
                                        'referral_date', e.referral_date,
                                        'primary_need', e.primary_need,
                                        'closure_date', e.closure_date,
                                        'closure_reason', e.closure_reason,
                                        'counts_for_neglect', e.for_neglect)
                     ORDER BY e.referral_date, e.referral_id) AS in_cycle_list
    FROM rr_earlier e
    JOIN rr_staged s ON s.child_id = e.child_id AND s.stage IS NOT NULL
    WHERE e.in_cycle
    GROUP BY e.child_id
),
hits AS (
    SELECT s.child_id,
           s.referral_id AS subject_id,
           s.stage,
           s.referral_date AS since,
           jsonb_build_object(
               'referral_date', s.referral_date,
               'primary_need', s.primary_need,
               'counts_for_neglect', s.for_neglect,
               'previous_referral_id', s.prev_id,
               'previous_referral_date', s.prev_date,
               'previous_primary_need', s.prev_need,
               'previous_counts_for_neglect', s.prev_neglect,
               'previous_closure_date', s.prev_closure,
               'previous_closure_reason', s.prev_reason,
               'days_after_closure', CASE WHEN s.prev_closure <= s.referral_date
                                          THEN s.referral_date - s.prev_closure END,
               'months_after_closure', s.months_after_closure,
               'cycle_months', coalesce((:options ->> 'cycle_months')::int, 24),
               'referrals_24m', s.earlier_in_cycle + 1,
               -- the referrals of the cycle window, oldest first, the current one last
               'referrals', coalesce(l.in_cycle_list, '[]'::jsonb)
                            || jsonb_build_array(jsonb_build_object(
                                   'referral_id', s.referral_id,
                                   'referral_date', s.referral_date,
                                   'primary_need', s.primary_need,
                                   'closure_date', s.closure_date,
                                   'closure_reason', s.closure_reason,
                                   'counts_for_neglect', s.for_neglect))) AS facts,
           NULL::text AS chair_id
    FROM rr_staged s
    LEFT JOIN rr_lists l ON l.child_id = s.child_id
    WHERE s.stage IS NOT NULL
)
,
-- @include tail_family.sql
,
-- @include tail_allocation.sql
,
-- @include alert_rows.sql
