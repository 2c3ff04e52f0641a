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
           -- true or false, never NULL: a referral with neither neglect nor a primary need
           -- does not count for neglect (its facts said null; audit 13, F1)
           (neglect IS TRUE OR primary_need = 'N1') IS TRUE AS for_neglect
    FROM (SELECT DISTINCT ON (child_id COLLATE "C", referral_id COLLATE "C") * FROM referrals_rows
          WHERE keyed AND child_id IN (SELECT child_id FROM rr_candidates)
          ORDER BY child_id COLLATE "C", referral_id COLLATE "C", referral_date, primary_need, neglect, closure_date, closure_reason) first_by_content
    WHERE sound AND referral_date <= :as_of
),
rr_staged AS (
    -- One sort of the candidates' referrals by child, newest first (ties: the greatest
    -- referral_id): the first row is the current referral. Once the rows of its day that come
    -- after it are dropped, the rest are the earlier referrals, received strictly before it,
    -- and the second row is the previous referral. Two passes over that one order (the
    -- second's frame is the child's whole list) take the place of a sort per set and of
    -- joining each child's list to itself.
    SELECT child_id, referral_id, referral_date, primary_need, for_neglect, closure_date,
           closure_reason, earlier_in_cycle, prev_id, prev_date, prev_need, prev_neglect,
           prev_closure, prev_reason, cycle_after,
           CASE WHEN earlier_in_cycle + 1 >= coalesce((:options ->> 'cycle_count')::int, 3)
                     AND (for_neglect OR neglect_in_cycle) THEN 'cycle'
                WHEN (for_neglect AND earlier_in_window) OR earlier_in_window_neglect THEN '12m'
           END AS stage,
           -- whole calendar months from the previous referral's closure to this referral,
           -- clamped as episodes.sql counts them; NULL when it had not closed by then
           CASE WHEN prev_closure <= referral_date
                THEN m.n - ((prev_closure + make_interval(months => m.n))::date > referral_date)::int
           END AS months_after_closure
    FROM (
        -- An earlier referral on or after the current date - window_months counts for 12m,
        -- one after the current date - cycle_months for the cycle.
        SELECT r1.*,
               bool_or(pos > 1 AND referral_date >= win_from) OVER whole AS earlier_in_window,
               bool_or(pos > 1 AND referral_date >= win_from AND for_neglect) OVER whole
                   AS earlier_in_window_neglect,
               count(*) FILTER (WHERE pos > 1 AND referral_date > cycle_after) OVER whole
                   AS earlier_in_cycle,
               bool_or(pos > 1 AND referral_date > cycle_after AND for_neglect) OVER whole
                   AS neglect_in_cycle,
               lead(referral_id) OVER whole AS prev_id,
               lead(referral_date) OVER whole AS prev_date,
               lead(primary_need) OVER whole AS prev_need,
               lead(for_neglect) OVER whole AS prev_neglect,
               lead(closure_date) OVER whole AS prev_closure,
               lead(closure_reason) OVER whole AS prev_reason
        FROM (
            SELECT r0.*,
                   (cur_date - make_interval(months => coalesce((:options ->> 'window_months')::int, 12)))::date
                       AS win_from,
                   (cur_date - make_interval(months => coalesce((:options ->> 'cycle_months')::int, 24)))::date
                       AS cycle_after
            FROM (
                SELECT r.*, r.child_id COLLATE "C" AS child_key,
                       row_number() OVER newest AS pos,
                       first_value(referral_date) OVER newest AS cur_date,
                       first_value(closure_date) OVER newest AS cur_closure
                FROM rr_refs r
                WINDOW newest AS (PARTITION BY r.child_id COLLATE "C"
                                  ORDER BY r.referral_date DESC, r.referral_id DESC)
            ) r0
            -- only while the current referral is open on T
            WHERE (cur_closure IS NULL OR cur_closure > :as_of)
              AND (pos = 1 OR referral_date < cur_date)
        ) r1
        WINDOW whole AS (PARTITION BY child_key ORDER BY referral_date DESC, referral_id DESC
                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ) r2
    CROSS JOIN LATERAL (
        SELECT ((extract(year FROM referral_date) - extract(year FROM prev_closure)) * 12
                + extract(month FROM referral_date) - extract(month FROM prev_closure))::int AS n
    ) m
    WHERE pos = 1 AND prev_date IS NOT NULL
),
rr_lists AS (
    -- The referrals of the cycle window and the current one last, built only for the children
    -- who have a stage: most children with earlier referrals have none, and a list is the
    -- costly part of a row. json, not jsonb: the text is all the client reads, and json_agg
    -- appends where jsonb_agg builds and sorts a tree (half the time); keys are written in
    -- the order jsonb would sort them (length, then bytes), as alerts have always shown them.
    SELECT e.child_id,
           json_agg(json_build_object('referral_id', e.referral_id,
                                      'closure_date', e.closure_date,
                                      'primary_need', e.primary_need,
                                      'referral_date', e.referral_date,
                                      'closure_reason', e.closure_reason,
                                      'counts_for_neglect', e.for_neglect)
                    ORDER BY e.referral_date, e.referral_id) AS in_cycle_list
    FROM rr_refs e
    JOIN rr_staged s ON s.child_id = e.child_id AND s.stage IS NOT NULL
    WHERE (e.referral_date < s.referral_date AND e.referral_date > s.cycle_after)
       OR e.referral_id = s.referral_id
    GROUP BY e.child_id
),
hits AS (
    SELECT s.child_id,
           s.referral_id AS subject_id,
           s.stage,
           s.referral_date AS since,
           json_build_object(
               -- the referrals of the cycle window, oldest first, the current one last
               'referrals', l.in_cycle_list,
               'cycle_months', coalesce((:options ->> 'cycle_months')::int, 24),
               'primary_need', s.primary_need,
               'referral_date', s.referral_date,
               'referrals_24m', s.earlier_in_cycle + 1,
               'counts_for_neglect', s.for_neglect,
               'days_after_closure', CASE WHEN s.prev_closure <= s.referral_date
                                          THEN s.referral_date - s.prev_closure END,
               'months_after_closure', s.months_after_closure,
               'previous_referral_id', s.prev_id,
               'previous_closure_date', s.prev_closure,
               'previous_primary_need', s.prev_need,
               'previous_referral_date', s.prev_date,
               'previous_closure_reason', s.prev_reason,
               'previous_counts_for_neglect', s.prev_neglect) AS facts,
           NULL::text AS chair_id
    FROM rr_staged s
    JOIN rr_lists l ON l.child_id = s.child_id
    WHERE s.stage IS NOT NULL
)
,
-- @include tail_family.sql
,
-- @include tail_allocation.sql
,
-- @include alert_rows.sql
