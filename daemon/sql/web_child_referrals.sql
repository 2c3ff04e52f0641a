-- web_child_referrals: the child's referrals for its chronology (RESPONSES.md, "/child"), by
-- date (identical copies once), each with whether it counts for neglect (RULES.md, re_referral:
-- neglect is true or the primary need is N1).
-- $1 text  the child
SELECT translate(coalesce(jsonb_agg(jsonb_build_object(
           'referral_id', r.referral_id, 'referral_date', r.referral_date,
           'primary_need', r.primary_need, 'for_neglect', r.for_neglect,
           'closure_date', r.closure_date, 'closure_reason', r.closure_reason)
       ORDER BY r.referral_date NULLS LAST, r.referral_id COLLATE "C"), '[]'::jsonb)::text, @shown@)
  FROM (SELECT DISTINCT referral_id::text, referral_date, primary_need::text,
               (neglect IS TRUE OR primary_need = 'N1') AS for_neglect, closure_date,
               closure_reason::text
          FROM @case@.referrals
         WHERE child_id::text = $1::text) r
