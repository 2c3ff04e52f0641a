/* sqltext: the SQL files of rules/ and daemon/sql/, embedded at build time (generated build/sql_embed.c).
 * A rule's own statements are declared by its file (rule.h, RULE_SQL). */
#ifndef DRIFTWATCH_SQLTEXT_H
#define DRIFTWATCH_SQLTEXT_H

extern const char sql_quality_teams[];
extern const char sql_quality_workers[];
extern const char sql_quality_children[];
extern const char sql_quality_allocations[];
extern const char sql_quality_referrals[];
extern const char sql_quality_cin_plans[];
extern const char sql_quality_cp_plans[];
extern const char sql_quality_appointments[];
extern const char sql_quality_strategies[];
extern const char sql_quality_child_ids[];
extern const char sql_quality_child_ids_branch[];
extern const char sql_state_v1[];
extern const char sql_state_v2[];
extern const char sql_state_v3[];
extern const char sql_state_v4[];
extern const char sql_state_v5[];
extern const char sql_state_v6[];
extern const char sql_state_v7[];
extern const char sql_state_v8[];
extern const char sql_state_v9[];
extern const char sql_state_v10[];
extern const char sql_state_v11[];
extern const char sql_state_v12[];
extern const char sql_state_v13[];
extern const char sql_state_v14[];
extern const char sql_responses_record[];
extern const char sql_unanswered_candidates[];
extern const char sql_unanswered_queue[];
extern const char sql_unanswered_service_manager[];
extern const char sql_record_begin[];
extern const char sql_record[];
extern const char sql_record_resolve[];
extern const char sql_record_end[];
extern const char sql_record_daily[];
extern const char sql_web_service[];
extern const char sql_web_service_state[];
extern const char sql_web_service_version[];
extern const char sql_web_service_mine[];
extern const char sql_web_service_answers[];
extern const char sql_outbox_claim_webhook[];
extern const char sql_outbox_claim_email[];
extern const char sql_outbox_result[];
extern const char sql_outbox_renew[];
extern const char sql_outbox_left[];
extern const char sql_triggers_install[];
extern const char sql_triggers_tables[];
extern const char sql_check_state[];
extern const char sql_contract_rls[];
extern const char sql_grants_excess[];
extern const char sql_lock_holders[];
extern const char sql_blocking_pids[];
extern const char sql_prune[];
extern const char sql_outbox_counts[];
extern const char sql_midnight[];
extern const char sql_web_alert[];
extern const char sql_web_alerts[];
extern const char sql_web_pages_alerts[];
extern const char sql_web_pages_workers[];
extern const char sql_web_child_alerts[];
extern const char sql_web_child_allocations[];
extern const char sql_web_child_appointments[];
extern const char sql_web_child_children[];
extern const char sql_web_child_plans[];
extern const char sql_web_child_referrals[];
extern const char sql_web_child_strategies[];
extern const char sql_web_visible[];
extern const char sql_web_visible_state[];

#endif
