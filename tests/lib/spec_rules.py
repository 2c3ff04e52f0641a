"""spec_rules: the seven rules as RULES.md names them, their stages (lowest first) and each
stage's default recipients, for the tests that read the rules from the specification
(test_rules.py, test_rules_oracle.py). Copied from ../shared/spec/RULES.md's tables, never from
rules/: a test built on them checks the daemon against the specification."""

CIN, CP, REP, WNB, WC, CHURN, RR = ("cin_neglect_duration", "cp_neglect_duration",
                                    "repeat_neglect_plan", "was_not_brought", "worker_change",
                                    "worker_churn", "re_referral")
RULES = [CIN, CP, REP, WNB, WC, CHURN, RR]
STAGES = {
    CIN: ["6m"],
    CP: ["9m", "12m", "15m", "18m"],
    REP: ["any", "24m", "12m"],
    WNB: ["vulnerable", "repeated"],
    WC: ["handover"],
    CHURN: ["churn"],
    RR: ["12m", "cycle"],
}
ROLES = {
    (CIN, "6m"): {"supervisor"},
    (CP, "9m"): {"supervisor"},
    (CP, "12m"): {"supervisor", "cp_chair"},
    (CP, "15m"): {"cp_chair", "cp_manager", "supervisor"},
    (CP, "18m"): {"head_of_service", "cp_chair", "supervisor"},
    (REP, "any"): {"cp_chair", "supervisor"},
    (REP, "24m"): {"cp_chair", "supervisor"},
    (REP, "12m"): {"cp_chair", "supervisor"},
    (WNB, "vulnerable"): {"supervisor", "allocated_worker"},
    (WNB, "repeated"): {"supervisor", "allocated_worker"},
    (WC, "handover"): {"supervisor", "allocated_worker"},
    (CHURN, "churn"): {"supervisor"},
    (RR, "12m"): {"supervisor"},
    (RR, "cycle"): {"supervisor", "head_of_service"},
}
