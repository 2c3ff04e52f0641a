/*
 * dwgen: synthetic children's social care case data for driftwatch.
 *
 *   dwgen --children N --seed S --as-of YYYY-MM-DD [--bad-rows PERMILLE]
 *         [--schema NAME] [--team-webhooks BASE] [--shape default|dense|heavy]
 *         [shape options] [--summary]
 *         [--ssd [--local-schema NAME] | --ssd-compatible]
 *
 * Writes to stdout a psql script: for each of the nine contract relations
 * (../shared/spec/CONTRACT.md) a COPY ... FROM STDIN block in COPY text format;
 * with --ssd, for each table of the Standard Safeguarding Dataset and of
 * contrib/ssd/local_schema.sql that contrib/ssd's views read (see ssd_row()).
 *
 * Design
 * - Deterministic: every random number comes from xoshiro256** streams seeded
 *   with splitmix64 from (seed, family number, stream). Same arguments, same bytes.
 * - Streaming with bounded memory: the population is a sequence of families;
 *   one family is simulated at a time from its own seed. Each table is one pass
 *   over the families that regenerates them and writes only that table's rows,
 *   so nothing but one family is ever held in memory.
 * - Shape: an England-like authority (../shared/spec/DOMAIN.md): per 100,000
 *   children about 5,200 referrals a year, 3,300 children in need and 410 on
 *   CP plans at any time, 515 CP plans starting a year, half of them neglect,
 *   a fifth second or subsequent, lengths by the national distribution.
 *   About seven years are simulated and the last five (rows still open or ended
 *   within five years of --as-of) are written.
 * - Other shapes (--shape, and knobs that scale one thing each: usage()): an
 *   authority with far more involvement and plans that are never closed
 *   (dense, the independent data set of issue 9), or a heavy tail of children
 *   with hundreds of rows each (heavy). A knob left at its default draws no
 *   extra random number, so the default shape's output does not move.
 * - The first ten families are scripted cases (see scripted()) dated relative
 *   to --as-of, so every rule and stage of RULES.md is reached at any scale.
 * - Bad rows: every kind of docs/internals.md "Bad rows" is sprinkled at
 *   PERMILLE per 1000 rows (default 2; 0 turns it off). Any kind a table has not
 *   produced by chance is added once at the end of the table, so every kind is
 *   present at any scale when PERMILLE > 0.
 *
 * C11, libc and libm only.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODATE INT_MIN /* no date (NULL) */
#define OPEN   INT_MAX /* period still open */
#define YEAR   365
#define TWO_PI 6.283185307179586476925

/* ------------------------------------------------------------------ PRNG */

typedef struct { uint64_t s[4]; } rng_t;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ (a * 0xD1B54A32D192ED03ULL);
    h = splitmix64(&x);
    x = h ^ (b * 0xABC98388FB8FAC03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* uniform in [0, 1) */
static double unif(rng_t *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

/* uniform integer in [lo, hi] */
static int uint_in(rng_t *r, int lo, int hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = (uint64_t)((int64_t)hi - lo + 1);
    return lo + (int)(((rng_next(r) >> 32) * span) >> 32);
}

static int bern(rng_t *r, double p) { return unif(r) < p; }

static double rexp(rng_t *r, double mean) { return -mean * log(1.0 - unif(r)); }

static double rnorm(rng_t *r)
{
    double u1 = 1.0 - unif(r), u2 = unif(r);
    return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}

/* ----------------------------------------------------------------- dates */

static int days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* date + n months, clamped to the month's end (as PostgreSQL does) */
static int add_months(int day, int n)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    int mi = y * 12 + (m - 1) + n;
    int y2 = mi / 12, m2 = mi % 12 + 1;
    int dm = days_in_month(y2, m2);
    return days_from_civil(y2, m2, d < dm ? d : dm);
}

static int dow(int day) { return ((day + 4) % 7 + 7) % 7; } /* 0 = Sunday */

static int last_sunday(int y, int m)
{
    int last = days_from_civil(y, m, days_in_month(y, m));
    return last - dow(last);
}

/* Europe/London: is local time (day, minute of day) in British Summer Time?
 * Callers never generate 01:00-01:59 local, which is missing or ambiguous on
 * the change days. */
static int is_bst(int day, int minute)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    if (m < 3 || m > 10)
        return 0;
    int a = last_sunday(y, 3), b = last_sunday(y, 10);
    if (day > a && day < b)
        return 1;
    if (day == a)
        return minute >= 120;
    if (day == b)
        return minute < 60;
    return 0;
}

static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

static int fmt_date(char *b, int day)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    b[0] = (char)('0' + (y / 1000) % 10);
    b[1] = (char)('0' + (y / 100) % 10);
    b[2] = (char)('0' + (y / 10) % 10);
    b[3] = (char)('0' + y % 10);
    b[4] = '-';
    put2(b + 5, m);
    b[7] = '-';
    put2(b + 8, d);
    b[10] = 0;
    return 10;
}

static int parse_date(const char *s, int *out)
{
    int y, m, d;
    char extra;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3)
        return -1;
    if (y < 1900 || y > 9000 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    *out = days_from_civil(y, m, d);
    return 0;
}

/* ---------------------------------------------------------------- output */

static char obuf[1 << 18];
static size_t olen;

static void oflush(void)
{
    if (olen && fwrite(obuf, 1, olen, stdout) != olen) {
        perror("dwgen: write");
        exit(1);
    }
    olen = 0;
}

static void oput(const char *s, size_t n)
{
    if (olen + n > sizeof obuf) {
        oflush();
        if (n > sizeof obuf) {
            if (fwrite(s, 1, n, stdout) != n) {
                perror("dwgen: write");
                exit(1);
            }
            return;
        }
    }
    memcpy(obuf + olen, s, n);
    olen += n;
}

static void oputs(const char *s) { oput(s, strlen(s)); }

/* a value in COPY text format */
static void oput_text(const char *s, size_t n)
{
    size_t i, start = 0;
    for (i = 0; i < n; i++) {
        const char *esc = NULL;
        switch (s[i]) {
        case '\\': esc = "\\\\"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        default: continue;
        }
        oput(s + start, i - start);
        oput(esc, 2);
        start = i + 1;
    }
    oput(s + start, n - start);
}

/* ------------------------------------------------------------------ rows */

#define MAXF 8
#define MAXKIDS 6 /* children in a family */
#define FLEN 96

typedef struct {
    int nf;
    unsigned char null[MAXF];
    unsigned char len[MAXF];
    int day[MAXF]; /* the date a date field holds, else NODATE */
    char v[MAXF][FLEN];
} row_t;

static void f_null(row_t *r, int i)
{
    r->null[i] = 1;
    r->len[i] = 0;
    r->v[i][0] = 0;
    r->day[i] = NODATE;
}

static void f_str(row_t *r, int i, const char *s)
{
    size_t n = strlen(s);
    if (n >= FLEN)
        n = FLEN - 1;
    memcpy(r->v[i], s, n);
    r->v[i][n] = 0;
    r->len[i] = (unsigned char)n;
    r->null[i] = 0;
    r->day[i] = NODATE;
}

static void f_date(row_t *r, int i, int day)
{
    if (day == NODATE || day == OPEN) {
        f_null(r, i);
        return;
    }
    r->len[i] = (unsigned char)fmt_date(r->v[i], day);
    r->null[i] = 0;
    r->day[i] = day;
}

static void f_bool(row_t *r, int i, int b) { f_str(r, i, b ? "t" : "f"); }

static char *put_num(char *p, long v, int width)
{
    char tmp[24];
    int n = 0;
    if (v < 0)
        v = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* PREFIX + num (width digits) [+ "-" + seq (seqw digits)] */
static void f_id(row_t *r, int i, const char *prefix, long num, int width, int seq, int seqw)
{
    char *p = r->v[i];
    size_t pl = strlen(prefix);
    memcpy(p, prefix, pl);
    p += pl;
    p = put_num(p, num, width);
    if (seqw) {
        *p++ = '-';
        p = put_num(p, seq, seqw);
    }
    *p = 0;
    r->len[i] = (unsigned char)(p - r->v[i]);
    r->null[i] = 0;
    r->day[i] = NODATE;
}

static void f_worker(row_t *r, int i, long w) { f_id(r, i, "w", w, 0, 0, 0); }
static void f_child(row_t *r, int i, long c) { f_id(r, i, "C-", c, 6, 0, 0); }

/* -------------------------------------------------------------- settings */

enum { T_TEAMS, T_WORKERS, T_CHILDREN, T_ALLOC, T_REF, T_CIN, T_CP, T_APPT, T_STRAT, NTABLES };

static const char *const tname[NTABLES] = {"teams", "workers", "children", "allocations", "referrals",
                                           "cin_plans", "cp_plans", "appointments", "strategies"};
static const char *const tcols[NTABLES] = {
    "team_id, name, manager_email, webhook_url",
    "worker_id, display_name, email, team_id, supervisor_id, role",
    "child_id, family_id, date_of_birth, expected_dob, disability",
    "allocation_id, child_id, worker_id, start_date, end_date",
    "referral_id, child_id, referral_date, primary_need, neglect, closure_date, closure_reason",
    "plan_id, child_id, start_date, end_date, neglect",
    "plan_id, child_id, start_date, end_date, initial_category, latest_category, chair_id",
    "appointment_id, child_id, service, scheduled_for, outcome",
    "strategy_id, child_id, kind, decided_on, review_by",
};
static const int tnf[NTABLES] = {4, 6, 5, 5, 7, 5, 7, 5, 5};

enum {
    K_NULL_KEY, K_NULL_CHILD, K_DUP_KEY, K_IDENT_DUP, K_NULL_WORKER, K_NULL_START, K_END_BEFORE_START,
    K_DANGLING_WORKER, K_NULL_REFDATE, K_CLOSURE_BEFORE_REF, K_NULL_NEGLECT, K_NULL_CATEGORY,
    K_UNKNOWN_CATEGORY, K_DANGLING_CHAIR, K_NULL_SCHED, K_UNKNOWN_OUTCOME, K_NULL_DECIDED,
    K_REVIEW_BEFORE, K_DANGLING_SUP, K_DANGLING_TEAM, K_MISSING_CHILD, NKINDS
};

static const char *const kname[NKINDS] = {
    "null_key", "null_child_id", "duplicate_key", "identical_duplicate", "null_worker_id",
    "null_start_date", "end_before_start", "dangling_worker", "null_referral_date",
    "closure_before_referral", "null_neglect", "null_category", "unknown_category", "dangling_chair",
    "null_scheduled_for", "unknown_outcome", "null_decided_on", "review_before_decided",
    "dangling_supervisor", "dangling_team", "missing_child"};

#define KL(...) {__VA_ARGS__, -1}
static const int tkinds[NTABLES][12] = {
    [T_TEAMS] = KL(K_NULL_KEY, K_DUP_KEY, K_IDENT_DUP),
    [T_WORKERS] = KL(K_NULL_KEY, K_DUP_KEY, K_IDENT_DUP, K_DANGLING_SUP, K_DANGLING_TEAM),
    [T_CHILDREN] = KL(K_NULL_KEY, K_DUP_KEY, K_IDENT_DUP),
    [T_ALLOC] = KL(K_NULL_KEY, K_NULL_CHILD, K_DUP_KEY, K_IDENT_DUP, K_NULL_WORKER, K_NULL_START,
                   K_END_BEFORE_START, K_DANGLING_WORKER),
    [T_REF] = KL(K_NULL_KEY, K_NULL_CHILD, K_DUP_KEY, K_IDENT_DUP, K_NULL_REFDATE, K_CLOSURE_BEFORE_REF),
    [T_CIN] = KL(K_NULL_KEY, K_NULL_CHILD, K_DUP_KEY, K_IDENT_DUP, K_NULL_START, K_END_BEFORE_START,
                 K_NULL_NEGLECT, K_MISSING_CHILD),
    [T_CP] = KL(K_NULL_KEY, K_NULL_CHILD, K_DUP_KEY, K_IDENT_DUP, K_NULL_START, K_END_BEFORE_START,
                K_NULL_CATEGORY, K_UNKNOWN_CATEGORY, K_DANGLING_CHAIR, K_MISSING_CHILD),
    [T_APPT] = KL(K_NULL_KEY, K_NULL_CHILD, K_DUP_KEY, K_IDENT_DUP, K_NULL_SCHED, K_UNKNOWN_OUTCOME),
    [T_STRAT] = KL(K_NULL_KEY, K_NULL_CHILD, K_DUP_KEY, K_IDENT_DUP, K_NULL_DECIDED, K_REVIEW_BEFORE),
};

/* field positions (-1: none) */
static const int f_start[NTABLES] = {-1, -1, -1, 3, 2, 2, 2, 3, 3};
static const int f_end[NTABLES] = {-1, -1, -1, 4, 5, 3, 3, -1, 4};

static struct {
    long children;
    uint64_t seed;
    int as_of;
    int H0;  /* simulation starts */
    int H;   /* first day of the written history: rows ended before it are left out */
    double bad_p;
    const char *schema;
    int summary;
    /* shape (--shape and the knobs after it; see usage()) */
    const char *shape;
    double involved;      /* share of families known to children's social care */
    double ref_mult;      /* referral episodes a year of an involved family, times */
    double plan_mult;     /* share of episodes that lead to a CIN or CP plan, times */
    double alloc_mult;    /* worker changes, times */
    double appt_mult;     /* appointments, times */
    double strat_mult;    /* strategies recorded at 15-month reviews, times */
    double long_cin;      /* share of CIN plans that run for years */
    double famcum[MAXKIDS]; /* cumulative family-size distribution (1..MAXKIDS children) */
    int famcustom;        /* famcum came from --family-sizes */
    double tail_share;    /* share of involved children with a heavy tail of rows */
    int tail_rows;        /* rows of such a child in each of allocations, appointments, plans */
    double teams_100k, workers_100k; /* 0: derived from caseloads */
    /* organisation */
    int n_teams, sw, eh, n_chairs, n_cpm;
    long id_cpm0, id_chair0, id_team0, block, n_workers;
    /* bookkeeping */
    rng_t brng[NTABLES];
    long long rows[NTABLES];
    long long bad[NTABLES][NKINDS];
    long long missing; /* children.missing produced anywhere */
    long long dropped; /* rows beyond a family's capacity (should stay 0) */
    long long long_neglect_cin; /* children on a neglect CIN plan open on as-of, 6+ months old */
    long long tail_children;
    row_t tmpl[NTABLES];
    int have_tmpl[NTABLES];
    int tmpl_ok; /* rows being written may serve as templates (not scripted cases) */
    /* --ssd, --ssd-compatible (see ssd_row()) */
    int ssd;            /* write the SSD's tables and the local gap tables, not the contract's */
    int ssd_compat;     /* neglect as the SSD can carry it (set by --ssd too) */
    int ssd_pass;       /* the SSD table being written (SP_*) */
    const char *local_schema;
    const char *team_hooks; /* --team-webhooks BASE: a third of teams get BASE/team-NNN */
    row_t cin_ref;      /* the referral a CIN plan takes its neglect from (field 0; null: none) */
} G;

/* ---------------------------------------------------------- organisation */

static long w_tm(int t) { return G.id_team0 + (long)t * G.block; }
static long w_sw(int t, int k) { return w_tm(t) + 1 + k; }
static long w_eh(int t, int k) { return w_tm(t) + 1 + G.sw + k; }
static long w_chair(int k) { return G.id_chair0 + k; }
static long w_dangling(rng_t *r) { return G.n_workers + 1000 + uint_in(r, 0, 8999); }

static void setup_org(void)
{
    long n = G.children;
    if (G.teams_100k > 0)
        G.n_teams = (int)lround((double)n * G.teams_100k / 100000.0);
    else
        G.n_teams = (int)((n + 1500) / 3000);
    if (G.n_teams < 3)
        G.n_teams = 3;
    long per_team = n / G.n_teams;
    /* about 4% of children have an open case; caseloads about 16 */
    G.sw = (int)((per_team * 4 / 100 + 15) / 16);
    if (G.sw < 2)
        G.sw = 2;
    if (G.sw > 40)
        G.sw = 40;
    G.eh = G.sw / 3 > 1 ? G.sw / 3 : 1;
    G.n_chairs = (int)(n * 7 / 100000);
    if (G.n_chairs < 2)
        G.n_chairs = 2;
    G.n_cpm = (int)(n / 200000);
    if (G.n_cpm < 1)
        G.n_cpm = 1;
    if (G.workers_100k > 0) { /* a team's size from the workforce asked for: 3/4 social workers */
        double staff = (double)n * G.workers_100k / 100000.0 - 1 - G.n_cpm - G.n_chairs;
        int per = (int)lround(staff / G.n_teams) - 1; /* besides the team manager */
        if (per < 3)
            per = 3;
        if (per > 400)
            per = 400;
        G.sw = (per * 3 + 2) / 4;
        G.eh = per - G.sw;
    }
    G.id_cpm0 = 2;
    G.id_chair0 = G.id_cpm0 + G.n_cpm;
    G.id_team0 = G.id_chair0 + G.n_chairs;
    G.block = 1 + G.sw + G.eh;
    G.n_workers = G.id_team0 + (long)G.n_teams * G.block - 1;
}

/* -------------------------------------------------------------- families */

/* families involved with children's social care: about 1 in 6 */
#define P_INVOLVED 0.165 /* the default of --involved */
/* --shape dense: the independent authority's figures of issue 9 (usage()) */
#define DENSE_INVOLVED     0.60
#define DENSE_REFERRALS    4.2
#define DENSE_PLANS        0.9
#define DENSE_ALLOCATIONS  0.2
#define DENSE_APPOINTMENTS 0.67
#define DENSE_STRATEGIES   0.5
#define DENSE_LONG_CIN     0.88
#define LAMBDA0    0.62 /* mean referral episodes a year for an involved family */
#define P_REPEAT   0.14 /* a family whose CP plans ended comes back to CP */
#define P_NFA      0.50 /* episode kinds: no further action after assessment */
#define P_SUPPORT  0.17 /* in need without a plan */
#define P_CP       0.055 /* straight to a conference; the rest get a CIN plan */
#define P_ESCALATE 0.07 /* a CIN plan escalates to CP */

enum { S_HV, S_GP, S_DENTAL, S_PAED, S_HOSP, S_CAMHS, NSERV };
static const char *const servname[NSERV] = {"health_visiting", "gp", "dental", "paediatrics", "hospital", "camhs"};

/* rows one family may hold per table (a heavy-tail child adds up to 1.5 x --tail-rows) */
#define CAP_AL 4096
#define CAP 2048

enum { CAT_NEG, CAT_PHY, CAT_EMO, CAT_SAB, CAT_MUL, NCAT };
static const char *const catname[NCAT] = {"NEG", "PHY", "EMO", "SAB", "MUL"};
enum { SK_PLO, SK_CARE, SK_STEP };
static const char *const skname[3] = {"plo", "care_proceedings", "step_down"};

typedef struct {
    long num;
    int dob;      /* birth (actual, or expected if still unborn on as-of) */
    int expected; /* expected_dob to write, or NODATE */
    int disability;
    int first;   /* first episode start, or OPEN */
    int visible; /* has a row in the written history */
    int seq_al, seq_ref, seq_cin, seq_cp, seq_st;
    int tail; /* rows per table of a heavy-tail child (--tail-share), else 0 */
} kid_t;

typedef struct { unsigned char kid; unsigned short seq; long worker; int start, end; } al_t;
typedef struct { unsigned char kid, need, neglect, reason; unsigned short seq; int date, closure; } ref_t;
typedef struct { unsigned char kid, neglect; unsigned short seq; int start, end; } cin_t;
typedef struct { unsigned char kid; signed char cat, latest; unsigned short seq; int start, end; long chair; } cp_t;
typedef struct { unsigned char kid, kind; unsigned short seq; int decided, review; } st_t;
typedef struct { unsigned char kid, serv, outcome; int day, minute; } sa_t; /* scripted appointment */

typedef struct {
    long num;
    int nkids;
    kid_t k[MAXKIDS];
    int team;
    int family_null;
    int involved;
    int any_neglect;
    double wnb;
    int churn_mean;
    long chair;
    long last_worker;
    int nal, nref, ncin, ncp, nst;
    al_t al[CAP_AL];
    ref_t ref[CAP];
    cin_t cin[CAP];
    cp_t cp[CAP];
    st_t st[CAP];
    int nsa;
    sa_t sa[16];
    rng_t r;
} fam_t;

static fam_t F;

static int shown(int end) { return end == OPEN || end >= G.H; }

static int clip(int end) { return end > G.as_of ? OPEN : end; }

#define FOR_KIDS(f, mask, i) \
    for (int i = 0; i < (f)->nkids; i++) \
        if ((mask) & (1u << i))

static void add_alloc(fam_t *f, unsigned mask, long worker, int start, int end)
{
    end = clip(end);
    if (start > G.as_of || (end != OPEN && end <= start))
        return;
    FOR_KIDS(f, mask, i) {
        kid_t *k = &f->k[i];
        int seq = ++k->seq_al;
        if (f->nal >= CAP_AL) {
            G.dropped++;
            continue;
        }
        f->al[f->nal++] = (al_t){(unsigned char)i, (unsigned short)seq, worker, start, end};
        if (shown(end))
            k->visible = 1;
    }
}

/* The census reason for closing a referral: the caller's (8 or 9 after an assessment, 7 when
 * services ceased, 1, 3 or 4 after care), now and then another: a family that moved away (RC5),
 * a young person passed to adult services at 18 (RC6), very rarely a death (RC2). From a stream of
 * the row's own, so that the family's stream does not move. */
static int closure_reason(const kid_t *k, int seq, int closure, int reason)
{
    if (reason != 7 && reason != 8)
        return reason;
    rng_t x;
    rng_seed(&x, G.seed, (uint64_t)k->num, 0x100u + (uint64_t)seq);
    double u = unif(&x);
    if (reason == 7 && closure - k->dob >= 17 * YEAR && u < 0.8)
        return 6;
    if (u < 0.001)
        return 2;
    if (u < 0.035)
        return 5;
    return reason;
}

static void add_ref(fam_t *f, unsigned mask, int date, int need, int neglect, int closure, int reason)
{
    closure = clip(closure);
    if (date > G.as_of)
        return;
    FOR_KIDS(f, mask, i) {
        kid_t *k = &f->k[i];
        int seq = ++k->seq_ref;
        if (f->nref >= CAP) {
            G.dropped++;
            continue;
        }
        int rc = closure == OPEN ? 0 : closure_reason(k, seq, closure, reason);
        f->ref[f->nref++] = (ref_t){(unsigned char)i, (unsigned char)need, (unsigned char)neglect,
                                    (unsigned char)rc, (unsigned short)seq, date, closure};
        if (shown(closure))
            k->visible = 1;
    }
}

static void add_cin(fam_t *f, unsigned mask, int start, int end, int neglect)
{
    end = clip(end);
    if (start > G.as_of || (end != OPEN && end <= start))
        return;
    FOR_KIDS(f, mask, i) {
        kid_t *k = &f->k[i];
        int seq = ++k->seq_cin;
        int ng = neglect;
        if (bern(&f->r, 0.04))
            ng = !ng; /* siblings' plans do not always agree */
        if (f->ncin >= CAP) {
            G.dropped++;
            continue;
        }
        f->cin[f->ncin++] = (cin_t){(unsigned char)i, (unsigned char)ng, (unsigned short)seq, start, end};
        if (shown(end))
            k->visible = 1;
    }
}

static void add_cp(fam_t *f, unsigned mask, int start, int end, int cat, int latest, long chair)
{
    end = clip(end);
    if (start > G.as_of || (end != OPEN && end <= start))
        return;
    FOR_KIDS(f, mask, i) {
        kid_t *k = &f->k[i];
        int seq = ++k->seq_cp;
        if (f->ncp >= CAP) {
            G.dropped++;
            continue;
        }
        f->cp[f->ncp++] = (cp_t){(unsigned char)i, (signed char)cat, (signed char)latest,
                                 (unsigned short)seq, start, end, chair};
        if (shown(end))
            k->visible = 1;
    }
}

static void add_strat(fam_t *f, unsigned mask, int kind, int decided, int review, int plan_end)
{
    if (decided > G.as_of || !shown(plan_end))
        return;
    FOR_KIDS(f, mask, i) {
        kid_t *k = &f->k[i];
        int seq = ++k->seq_st;
        if (f->nst >= CAP) {
            G.dropped++;
            continue;
        }
        f->st[f->nst++] = (st_t){(unsigned char)i, (unsigned char)kind, (unsigned short)seq, decided, review};
    }
}

static long pick_sw(fam_t *f, long avoid)
{
    for (int tries = 0; tries < 8; tries++) {
        int team = bern(&f->r, 0.08) ? uint_in(&f->r, 0, G.n_teams - 1) : f->team;
        long w = w_sw(team, uint_in(&f->r, 0, G.sw - 1));
        if (w != avoid)
            return w;
    }
    return avoid == w_sw(f->team, 0) ? w_sw(f->team, 1) : w_sw(f->team, 0);
}

/* One referral's worth of allocations: workers change at plan starts (transfer
 * to a long-term team) and at random (turnover), sometimes with a gap or an
 * overlap of a few days at the handover. */
static void alloc_run(fam_t *f, unsigned mask, int start, int end, const int *chg, int nchg, int early_help)
{
    rng_t *r = &f->r;
    long worker;
    if (early_help)
        worker = w_eh(f->team, uint_in(r, 0, G.eh - 1));
    else if (f->last_worker > 0 && bern(r, 0.15))
        worker = f->last_worker;
    else
        worker = pick_sw(f, f->last_worker);
    int limit = end == OPEN ? G.as_of + 1 : end;
    /* an open case left unallocated for a while */
    if (end == OPEN && bern(r, 0.03) && G.as_of - start > 90)
        limit = end = G.as_of - uint_in(r, 1, 60);
    int t = start;
    int ci = 0;
    int next_rand = t + 1 + (int)rexp(r, f->churn_mean);
    for (int guard = 0; guard < 64; guard++) {
        while (ci < nchg && chg[ci] <= t)
            ci++;
        int next = next_rand;
        if (ci < nchg && chg[ci] < next)
            next = chg[ci];
        if (next >= limit) {
            add_alloc(f, mask, worker, t, end);
            break;
        }
        add_alloc(f, mask, worker, t, next);
        long nw = early_help ? w_eh(f->team, uint_in(r, 0, G.eh - 1)) : pick_sw(f, worker);
        int t2 = next;
        double u = unif(r);
        if (u < 0.20)
            t2 = next + uint_in(r, 1, 10); /* nobody allocated for a few days */
        else if (u < 0.25)
            t2 = next - uint_in(r, 1, 3); /* recorded overlap */
        if (t2 <= t)
            t2 = t + 1;
        if (t2 >= limit)
            break;
        t = t2;
        worker = nw;
        next_rand = t + 1 + (int)rexp(r, f->churn_mean);
    }
    if (!early_help)
        f->last_worker = worker;
}

static int draw_cat(rng_t *r)
{
    double u = unif(r);
    if (u < 0.47) return CAT_NEG;
    if (u < 0.82) return CAT_EMO;
    if (u < 0.91) return CAT_PHY;
    if (u < 0.95) return CAT_SAB;
    return CAT_MUL;
}

static int draw_need(rng_t *r, int neglect)
{
    static const double wn[9] = {0.66, 0.02, 0.05, 0.09, 0.09, 0.01, 0.03, 0.04, 0.01};
    static const double wo[9] = {0.34, 0.10, 0.05, 0.15, 0.20, 0.06, 0.01, 0.03, 0.06};
    const double *w = neglect ? wn : wo;
    double u = unif(r), acc = 0;
    for (int i = 0; i < 9; i++) {
        acc += w[i];
        if (u < acc)
            return i + 1;
    }
    return 9;
}

static int cp_len(rng_t *r)
{
    double u = unif(r);
    if (u < 0.16) return uint_in(r, 20, 91);
    if (u < 0.27) return uint_in(r, 92, 182);
    if (u < 0.71) return uint_in(r, 183, 365);
    if (u < 0.956) return uint_in(r, 366, 730);
    return uint_in(r, 731, 1400);
}

static int cin_len(rng_t *r)
{
    double l = 240.0 * exp(0.8 * rnorm(r));
    if (l < 21) l = 21;
    if (l > 1500) l = 1500;
    return (int)l;
}

/* state of one referral episode */
typedef struct {
    fam_t *f;
    unsigned mask;
    int neglect, need;
    int seg_start;  /* current referral's date */
    int chg[48];
    int nchg;
} ep_t;

static void ep_change(ep_t *e, int day, double p)
{
    p *= G.alloc_mult;
    if (e->nchg < 48 && bern(&e->f->r, p))
        e->chg[e->nchg++] = day;
}

/* close the current referral on `closure` (OPEN if still open) and allocate it */
static void ep_close(ep_t *e, int closure, int reason)
{
    fam_t *f = e->f;
    add_ref(f, e->mask, e->seg_start, e->need, e->neglect, closure, reason);
    /* change points are in time order except across nested runs */
    for (int i = 1; i < e->nchg; i++)
        for (int j = i; j > 0 && e->chg[j - 1] > e->chg[j]; j--) {
            int t = e->chg[j];
            e->chg[j] = e->chg[j - 1];
            e->chg[j - 1] = t;
        }
    alloc_run(f, e->mask, e->seg_start + uint_in(&f->r, 0, 2), clip(closure), e->chg, e->nchg, 0);
    e->nchg = 0;
}

/* CIN plans from `start`: may restart after a gap (start-again, sometimes under
 * a new referral) or escalate to CP. Returns the day the last plan ended
 * (OPEN if open on as-of); *escalated gets the day a CP plan took over (0 if none). */
static int cin_run(ep_t *e, int start, int neglect, int allow_esc, int *escalated)
{
    fam_t *f = e->f;
    rng_t *r = &f->r;
    *escalated = 0;
    for (int again = 0;; again++) {
        if (start > G.as_of)
            return OPEN;
        int len = cin_len(r);
        if (G.long_cin > 0 && bern(r, G.long_cin))
            len = uint_in(r, 400, 2200); /* plans that run for years, or are never closed */
        int end = start + len;
        ep_change(e, start, 0.25);
        if (allow_esc && bern(r, P_ESCALATE)) {
            int hi = len - 1 < 300 ? len - 1 : 300;
            int x = start + uint_in(r, 20, hi > 21 ? hi : 21);
            if (x <= G.as_of) {
                int cend = bern(r, 0.8) ? x : x + uint_in(r, 1, 30); /* some overlap the CP plan */
                add_cin(f, e->mask, start, cend, neglect);
                *escalated = x;
                return x;
            }
        }
        add_cin(f, e->mask, start, end, neglect);
        if (clip(end) == OPEN)
            return OPEN;
        if (again < 2 && bern(r, 0.16)) {
            int gap = bern(r, 0.5) ? uint_in(r, 1, 28) : uint_in(r, 29, 120);
            int ns = end + gap;
            if (ns > G.as_of)
                return end;
            if (bern(r, 0.4)) { /* closed, re-referred, new plan: start again */
                int c = end + uint_in(r, 0, gap - 1 < 5 ? gap - 1 : 5);
                ep_close(e, c, 7);
                int rs = ns - uint_in(r, 0, 7);
                e->seg_start = rs > c ? rs : c + 1;
                if (e->seg_start > ns)
                    ns = e->seg_start;
            }
            start = ns;
            continue;
        }
        return end;
    }
}

/* CP plans from `s` (the conference); start-again restarts and the occasional
 * overlapping duplicate plan; strategies for long plans. Returns the end of the
 * last plan, with *open set if one is open on as-of. */
static int cp_run(ep_t *e, int s, int cat, int *open)
{
    fam_t *f = e->f;
    rng_t *r = &f->r;
    int run_first = s;
    int t15 = add_months(run_first, 13) + uint_in(r, 0, 80);
    int strat_done = 0;
    *open = 0;
    if (bern(r, 0.15))
        f->chair = w_chair(uint_in(r, 0, G.n_chairs - 1));
    for (int n = 0; n < 6; n++) {
        int len = cp_len(r);
        int end = s + len;
        int latest = -1;
        double u = unif(r);
        if (u < 0.12)
            latest = cat;
        else if (u < 0.22) {
            static const int to[NCAT] = {CAT_MUL, CAT_NEG, CAT_NEG, CAT_MUL, CAT_NEG};
            latest = bern(r, 0.7) ? to[cat] : draw_cat(r);
        }
        long chair = bern(r, 0.02) ? -1 : f->chair;
        add_cp(f, e->mask, s, end, cat, latest, chair);
        ep_change(e, s, n == 0 ? 0.3 : 0.1);
        /* the 15-month review of a long plan records a way forward */
        if (!strat_done && s <= t15 && t15 < end && bern(r, 0.6 * G.strat_mult)) {
            strat_done = 1;
            double k = unif(r);
            int kind = k < 0.5 ? SK_PLO : k < 0.7 ? SK_CARE : SK_STEP;
            int review = bern(r, 0.15) ? NODATE : t15 + uint_in(r, 42, 180);
            add_strat(f, e->mask, kind, t15, review, clip(end));
            if (review != NODATE && review < end && bern(r, 0.35)) {
                int d2 = review + uint_in(r, 0, 40);
                if (d2 < end)
                    add_strat(f, e->mask, bern(r, 0.6) ? SK_CARE : SK_PLO, d2,
                              bern(r, 0.2) ? NODATE : d2 + uint_in(r, 60, 200), clip(end));
            }
        }
        if (clip(end) == OPEN) {
            *open = 1;
            return OPEN;
        }
        u = unif(r);
        if (u < 0.07) { /* closed, then a new plan weeks later */
            int gap = bern(r, 0.45) ? uint_in(r, 1, 28) : uint_in(r, 29, 90);
            if (end + gap > G.as_of)
                return end;
            s = end + gap;
            if (bern(r, 0.2))
                cat = draw_cat(r);
            continue;
        }
        if (u < 0.08 && len > 3) { /* a second plan recorded before the first was closed */
            int lo = len - 1 < 10 ? len - 1 : 10;
            s = end - uint_in(r, 1, lo);
            continue;
        }
        return end;
    }
    return OPEN; /* not reached in practice: treat as still open */
}

static int cat_is_neglect(rng_t *r, int cat) { return cat == CAT_NEG || (cat == CAT_MUL && bern(r, 0.6)); }

enum { EP_NFA, EP_SUPPORT, EP_CIN, EP_CP };

/* --plans X: the CIN and CP shares times X (at most all episodes), the others scaled down */
static int episode_type(double u)
{
    double cin = (1 - P_NFA - P_SUPPORT - P_CP) * G.plan_mult, cp = P_CP * G.plan_mult;
    if (cin + cp > 1) {
        cin /= cin + cp;
        cp = 1 - cin;
    }
    double rest = (1 - cin - cp) / (P_NFA + P_SUPPORT);
    double nfa = P_NFA * rest, sup = P_SUPPORT * rest;
    return u < nfa ? EP_NFA : u < nfa + sup ? EP_SUPPORT : u < 1 - cp ? EP_CIN : EP_CP;
}

/* one episode of involvement starting with a referral on d; returns the day it
 * closed (OPEN if open on as-of); *cp_end gets the end of its last CP plan */
static int run_episode(fam_t *f, unsigned mask, int d, int type, int cat, int *cp_end)
{
    rng_t *r = &f->r;
    ep_t e = {.f = f, .mask = mask, .seg_start = d};
    *cp_end = NODATE;
    if (type == EP_CP)
        e.neglect = cat_is_neglect(r, cat) || bern(r, 0.15);
    else
        /* a family referred for neglect before is likelier to be referred for it again */
        e.neglect = bern(r, type == EP_CIN ? (f->any_neglect ? 0.65 : 0.45) : (f->any_neglect ? 0.45 : 0.25));
    e.need = draw_need(r, e.neglect);
    if (e.neglect)
        f->any_neglect = 1;

    if (type == EP_NFA) {
        int closure = d + uint_in(r, 3, 63);
        int reason = bern(r, 0.6) ? 8 : 9;
        ep_close(&e, closure, reason);
        if (reason == 9 && clip(closure) != OPEN) { /* referred to early help */
            int s = closure + uint_in(r, 0, 14);
            int eh_end = s + uint_in(r, 60, 300);
            alloc_run(f, mask, s, clip(eh_end), NULL, 0, 1);
            return eh_end;
        }
        return clip(closure);
    }
    if (type == EP_SUPPORT) { /* in need, supported without a plan */
        int closure = d + (int)(200.0 * exp(0.8 * rnorm(r))) + 20;
        ep_change(&e, d + uint_in(r, 20, 60), 0.5);
        ep_close(&e, closure, 7);
        return clip(closure);
    }

    int a = d + uint_in(r, 10, 45); /* assessment, or strategy discussion and conference */
    int last_end, cp_start = NODATE;
    if (type == EP_CIN) {
        int esc;
        int cin_ng = bern(r, 0.9) ? e.neglect : !e.neglect;
        last_end = cin_run(&e, a, cin_ng, 1, &esc);
        if (!esc) {
            if (last_end == OPEN) {
                ep_close(&e, OPEN, 0);
                return OPEN;
            }
            int closure = last_end + uint_in(r, 0, 10);
            ep_close(&e, closure, 7);
            return clip(closure);
        }
        cp_start = esc;
        cat = draw_cat(r);
        if (e.neglect && bern(r, 0.3))
            cat = CAT_NEG;
    } else {
        cp_start = a;
    }
    if (cat_is_neglect(r, cat))
        f->any_neglect = 1;
    int open;
    last_end = cp_run(&e, cp_start, cat, &open);
    if (open || last_end > G.as_of) {
        ep_close(&e, OPEN, 0);
        return OPEN;
    }
    *cp_end = last_end;
    double u = unif(r);
    int closure, reason = 7;
    if (u < 0.55) { /* step down to a CIN plan */
        int esc;
        double v = unif(r);
        int s = last_end + (v < 0.65 ? 0 : v < 0.92 ? uint_in(r, 1, 14) : -uint_in(r, 1, 7)); /* some overlap */
        int ng = cat_is_neglect(r, cat) ? bern(r, 0.9) : bern(r, 0.2);
        int cend = cin_run(&e, s, ng, 0, &esc);
        if (cend == OPEN) {
            ep_close(&e, OPEN, 0);
            return OPEN;
        }
        closure = cend + uint_in(r, 0, 10);
    } else if (u < 0.85) {
        closure = last_end + uint_in(r, 0, 21);
    } else { /* looked after, then left care or an order was made */
        closure = last_end + uint_in(r, 120, 900);
        double v = unif(r);
        reason = v < 0.15 ? 1 : v < 0.35 ? 3 : v < 0.6 ? 4 : 7;
    }
    ep_close(&e, closure, reason);
    return clip(closure);
}

static void simulate(fam_t *f)
{
    rng_t *r = &f->r;
    double lam = LAMBDA0 * rexp(r, 1.0) * G.ref_mult + 0.02;
    f->churn_mean = (int)((bern(r, 0.10) ? 120 : 560) / G.alloc_mult);
    if (f->churn_mean < 5)
        f->churn_mean = 5;
    f->chair = w_chair(uint_in(r, 0, G.n_chairs - 1));
    int t = G.H0 + (int)rexp(r, YEAR / lam);
    int forced = 0, prevcat = -1;
    for (int ep = 0; ep < 12 && t <= G.as_of; ep++) {
        int type, cat = -1;
        if (forced)
            type = EP_CP;
        else {
            double u = unif(r);
            if (G.plan_mult == 1.0)
                type = u < P_NFA ? EP_NFA : u < P_NFA + P_SUPPORT ? EP_SUPPORT : u < 1 - P_CP ? EP_CIN : EP_CP;
            else
                type = episode_type(u);
        }
        if (type == EP_CP)
            cat = (prevcat >= 0 && bern(r, 0.6)) ? prevcat : draw_cat(r);
        /* children taking part: born by then, or due soon (pre-birth plans) */
        unsigned mask = 0, elig = 0;
        int nelig = 0;
        for (int i = 0; i < f->nkids; i++) {
            kid_t *k = &f->k[i];
            int born = k->dob <= t;
            int prebirth = !born && type == EP_CP && k->dob - t <= 140;
            if (born || prebirth) {
                elig |= 1u << i;
                nelig++;
                if (bern(r, type == EP_CP ? 0.9 : 0.8))
                    mask |= 1u << i;
            }
        }
        if (!nelig) {
            t += 30 + (int)rexp(r, YEAR / lam);
            forced = 0;
            continue;
        }
        if (!mask) {
            int pick = uint_in(r, 0, nelig - 1);
            for (int i = 0; i < f->nkids; i++)
                if ((elig & (1u << i)) && pick-- == 0)
                    mask = 1u << i;
        }
        FOR_KIDS(f, mask, i) {
            kid_t *k = &f->k[i];
            if (k->first == OPEN)
                k->first = t;
            if (k->dob > t && k->expected == NODATE)
                k->expected = k->dob + (k->dob > G.as_of ? 0 : uint_in(r, -14, 14));
        }
        int cp_end;
        int end = run_episode(f, mask, t, type, cat, &cp_end);
        if (end == OPEN)
            break;
        if (cp_end != NODATE) {
            prevcat = cat >= 0 ? cat : prevcat;
            if (bern(r, P_REPEAT)) {
                int gap = bern(r, 0.35) ? uint_in(r, 91, 365) : uint_in(r, 366, 1100);
                t = cp_end + gap;
                if (t <= end)
                    t = end + uint_in(r, 7, 60);
                forced = 1;
                continue;
            }
        }
        t = end + 30 + (int)rexp(r, YEAR / lam);
        forced = 0;
    }
}


/* Scripted cases: the first NSCRIPTED families have histories built relative
 * to --as-of so that every rule and stage of RULES.md is reached at any scale
 * (a 100-child demo has alerts too). Dates are jittered by the family's seed. */
#define NSCRIPTED 10
enum { O_ATT, O_WNB, O_CBF, O_CBS, O_PEND };

static void sc_appt(fam_t *f, int kid, int serv, int day, int minute, int outcome)
{
    if (f->nsa < 16 && kid < f->nkids)
        f->sa[f->nsa++] = (sa_t){(unsigned char)kid, (unsigned char)serv, (unsigned char)outcome, day, minute};
}

/* a referral on d, still open, with one worker allocated from the next day */
static void sc_open_case(fam_t *f, unsigned mask, int d, int need)
{
    add_ref(f, mask, d, need, 1, OPEN, 0);
    add_alloc(f, mask, pick_sw(f, -1), d + 1, OPEN);
    FOR_KIDS(f, mask, i) {
        if (f->k[i].first == OPEN || f->k[i].first > d)
            f->k[i].first = d;
    }
}

static void scripted(fam_t *f, int sc)
{
    rng_t *r = &f->r;
    const int T = G.as_of;
    unsigned all = (1u << f->nkids) - 1;
    for (int i = 0; i < f->nkids; i++) {
        kid_t *k = &f->k[i];
        if (k->dob > T - 3 * YEAR) {
            k->dob = T - uint_in(r, 3 * YEAR, 12 * YEAR);
            k->expected = NODATE;
        }
    }
    f->any_neglect = 1;
    f->wnb = 0; /* the random appointments of scripted children are never missed */
    int s, s1, e1, s2, d;
    switch (sc) {
    case 0: /* neglect CP plan open 18+ months, no strategy: cp_neglect_duration 18m */
        s = add_months(T, -19) - uint_in(r, 5, 60);
        sc_open_case(f, all, s - uint_in(r, 20, 40), 1);
        add_cp(f, all, s, OPEN, CAT_NEG, -1, f->chair);
        break;
    case 1: /* open over 2 years; the strategy's review date passed: 18m */
        s = T - 2 * YEAR - uint_in(r, 10, 120);
        d = s - uint_in(r, 20, 40);
        add_ref(f, all, d, 1, 1, OPEN, 0);
        add_alloc(f, all, pick_sw(f, -1), d + 1, s + 300);
        add_alloc(f, all, pick_sw(f, f->al[0].worker), s + 300, OPEN);
        FOR_KIDS(f, all, i) f->k[i].first = d;
        add_cp(f, all, s, OPEN, CAT_NEG, -1, f->chair);
        s1 = add_months(s, 15) - uint_in(r, 0, 20);
        add_strat(f, all, SK_PLO, s1, s1 + uint_in(r, 90, 150), OPEN);
        break;
    case 2: /* 16 months, an active strategy holds it at 12m */
        s = add_months(T, -16) - uint_in(r, 0, 25);
        sc_open_case(f, all, s - uint_in(r, 20, 40), 1);
        add_cp(f, all, s, OPEN, CAT_NEG, CAT_NEG, f->chair);
        s1 = add_months(s, 15) - uint_in(r, 0, 14);
        add_strat(f, all, SK_CARE, s1, T + uint_in(r, 30, 100), OPEN);
        break;
    case 3: /* a second neglect plan within 12 months of the first: repeat 12m; 9m */
        s1 = add_months(T, -30) - uint_in(r, 0, 20);
        e1 = add_months(s1, 9) + uint_in(r, 0, 20);
        d = s1 - uint_in(r, 20, 40);
        add_ref(f, all, d, 1, 1, e1 + uint_in(r, 0, 10), 7);
        add_alloc(f, all, pick_sw(f, -1), d + 1, e1);
        add_cp(f, all, s1, e1, CAT_NEG, -1, f->chair);
        s2 = add_months(T, -10) - uint_in(r, 0, 20);
        sc_open_case(f, all, s2 - uint_in(r, 15, 30), 1);
        add_cp(f, all, s2, OPEN, CAT_NEG, -1, f->chair);
        FOR_KIDS(f, all, i) f->k[i].first = d;
        break;
    case 4: /* closed and reopened 2-4 weeks later: the episode is 15+ months old */
        s1 = add_months(T, -16) - uint_in(r, 0, 20);
        e1 = s1 + uint_in(r, 120, 160);
        s2 = e1 + uint_in(r, 10, 25);
        d = s1 - uint_in(r, 20, 40);
        add_ref(f, all, d, 1, 1, OPEN, 0);
        add_alloc(f, all, pick_sw(f, -1), d + 1, s2);
        add_alloc(f, all, pick_sw(f, f->al[0].worker), s2, OPEN);
        FOR_KIDS(f, all, i) f->k[i].first = d;
        add_cp(f, all, s1, e1, CAT_NEG, -1, f->chair);
        add_cp(f, all, s2, OPEN, CAT_EMO, CAT_NEG, f->chair);
        break;
    case 5: /* neglect CIN plan restarted after a short gap: cin_neglect_duration 6m */
        s1 = add_months(T, -10) - uint_in(r, 0, 20);
        e1 = s1 + uint_in(r, 120, 150);
        sc_open_case(f, all, s1 - uint_in(r, 20, 40), 1);
        add_cin(f, all, s1, e1, 1);
        add_cin(f, all, e1 + uint_in(r, 7, 25), OPEN, 1);
        break;
    case 6: { /* four workers in a year, the latest a few days ago: churn and handover */
        s = add_months(T, -9) - uint_in(r, 0, 20);
        d = s - 30;
        int h = T - uint_in(r, 2, 12);
        long w1 = pick_sw(f, -1), w2 = pick_sw(f, w1), w3 = pick_sw(f, w2), w4 = pick_sw(f, w3);
        add_ref(f, all, d, 5, 1, OPEN, 0);
        add_alloc(f, all, w1, d + 1, s + 60);
        add_alloc(f, all, w2, s + 60, T - 150);
        add_alloc(f, all, w3, T - 150, h);
        add_alloc(f, all, w4, h, OPEN);
        FOR_KIDS(f, all, i) f->k[i].first = d;
        add_cin(f, all, s, OPEN, 1);
        sc_appt(f, 0, S_DENTAL, T - uint_in(r, 20, 70), 10 * 60 + 30, O_WNB);
        sc_appt(f, 0, S_GP, T - uint_in(r, 90, 150), 9 * 60 + 10, O_WNB);
        break;
    }
    case 7: { /* a baby on a pre-birth plan, not brought to one health visit: vulnerable */
        kid_t *k = &f->k[0];
        k->dob = T - uint_in(r, 100, 250);
        k->expected = k->dob + uint_in(r, -10, 10);
        s = k->dob - uint_in(r, 20, 60);
        sc_open_case(f, all, s - uint_in(r, 20, 40), 1);
        add_cp(f, all, s, OPEN, CAT_NEG, -1, f->chair);
        sc_appt(f, 0, S_HV, T - uint_in(r, 10, 60), 14 * 60, O_WNB);
        sc_appt(f, 0, S_HV, T + uint_in(r, 5, 30), 11 * 60, O_PEND);
        break;
    }
    case 8: /* referred for neglect, closed after assessment, referred again months later (not
             * for neglect) and still open: re_referral 12m; an old referral years before */
        d = T - uint_in(r, 2 * YEAR + 200, 3 * YEAR - 30); /* after the birth (scripted children are 3+) */
        add_ref(f, all, d, 4, 0, d + uint_in(r, 100, 200), 7);
        FOR_KIDS(f, all, i) f->k[i].first = d;
        d = add_months(T, -8) - uint_in(r, 0, 20);
        add_ref(f, all, d, 1, 1, d + uint_in(r, 15, 40), 8);
        s = T - uint_in(r, 10, 40);
        add_ref(f, all, s, 4, 0, OPEN, 0);
        add_alloc(f, all, pick_sw(f, -1), s + 1, OPEN);
        break;
    case 9: /* a third referral in two years, neglect in the first: re_referral cycle */
        d = add_months(T, -22) + uint_in(r, 0, 20);
        add_ref(f, all, d, 1, 1, d + uint_in(r, 20, 45), 9);
        FOR_KIDS(f, all, i) f->k[i].first = d;
        d = add_months(T, -11) + uint_in(r, 0, 20);
        add_ref(f, all, d, 5, 0, d + uint_in(r, 20, 45), 8);
        s = T - uint_in(r, 5, 30);
        add_ref(f, all, s, 1, 1, OPEN, 0);
        add_alloc(f, all, pick_sw(f, -1), s + 1, OPEN);
        break;
    }
}

/* The heavy tail (--tail-share, --tail-rows): a few children whose records run to hundreds of
 * rows in allocations, plans, referrals and appointments, as some real records do (a child known
 * since birth whose every review opened a new plan and every team move a new allocation). The
 * rows come from a stream of the child's own, so the rest of the output does not move. */
static void tail_rng(rng_t *t, const kid_t *k) { rng_seed(t, G.seed, (uint64_t)k->num, 13); }

static void add_tail(fam_t *f, int i)
{
    kid_t *k = &f->k[i];
    rng_t t;
    tail_rng(&t, k);
    if (!bern(&t, G.tail_share))
        return;
    int from = k->dob > G.H ? k->dob : G.H;
    int span = G.as_of - from;
    if (span < 120)
        return;
    int n = (int)(G.tail_rows * (0.5 + unif(&t)));
    if (n < 4)
        n = 4;
    k->tail = n;
    unsigned m = 1u << i;
    if (k->first == OPEN)
        k->first = from;
    /* allocations: one after another, a new worker each time, the last still open */
    double step = (double)span / n;
    long w = -1;
    for (int j = 0; j < n; j++) {
        int s = from + (int)(j * step), e = j + 1 < n ? from + (int)((j + 1) * step) : OPEN;
        w = w_sw(bern(&t, 0.9) ? f->team : uint_in(&t, 0, G.n_teams - 1), uint_in(&t, 0, G.sw - 1));
        add_alloc(f, m, w, s, e);
    }
    /* plans: two CIN for each CP, each closed and the next opened within days or weeks, so
     * that they chain into long episodes; the last of each open half the time */
    for (int kind = 0; kind < 2; kind++) {
        int np = kind == 0 ? n * 2 / 3 : n / 3;
        if (np < 2)
            np = 2;
        double ps = (double)span / np;
        int cat = bern(&t, 0.7) ? CAT_NEG : draw_cat(&t);
        for (int j = 0; j < np; j++) {
            int s = from + (int)(j * ps);
            int len = (int)(ps * (0.6 + 0.4 * unif(&t)));
            if (len < 1)
                len = 1;
            int e = j + 1 == np && bern(&t, 0.5) ? OPEN : s + len;
            if (kind == 0)
                add_cin(f, m, s, e, bern(&t, 0.85));
            else
                add_cp(f, m, s, e, cat, bern(&t, 0.9) ? -1 : draw_cat(&t), f->chair);
        }
    }
    /* referrals: one in ten rows, each closed before the next, the last open half the time */
    int nr = n / 10 > 2 ? n / 10 : 2;
    double rs = (double)span / nr;
    for (int j = 0; j < nr; j++) {
        int d = from + (int)(j * rs);
        int ng = bern(&t, 0.6);
        int c = j + 1 == nr && bern(&t, 0.5) ? OPEN : d + 1 + (int)(rs * 0.8 * unif(&t));
        add_ref(f, m, d, draw_need(&t, ng), ng, c, bern(&t, 0.5) ? 7 : 8);
    }
}

static void gen_family(fam_t *f, long fnum, long first_child)
{
    rng_t *r = &f->r;
    rng_seed(r, G.seed, (uint64_t)fnum, 1);
    f->num = fnum;
    f->nal = f->nref = f->ncin = f->ncp = f->nst = f->nsa = 0;
    f->any_neglect = 0;
    f->last_worker = -1;
    double u = unif(r);
    int n;
    if (G.famcustom) {
        for (n = 1; n < MAXKIDS && u >= G.famcum[n - 1]; n++)
            ;
    } else
        n = u < 0.45 ? 1 : u < 0.75 ? 2 : u < 0.90 ? 3 : u < 0.97 ? 4 : u < 0.995 ? 5 : 6;
    if (n > G.children - first_child + 1)
        n = (int)(G.children - first_child + 1);
    f->nkids = n;
    /* ages on as-of: the youngest first, then siblings one to three years apart */
    int age = uint_in(r, -110, 18 * YEAR - (n - 1) * 2 * YEAR - 1);
    for (int i = n - 1; i >= 0; i--) {
        kid_t *k = &f->k[i];
        memset(k, 0, sizeof *k);
        k->num = first_child + i;
        if (age > 18 * YEAR - 2)
            age = 18 * YEAR - 2 - uint_in(r, 0, 200);
        k->dob = G.as_of - age;
        k->expected = k->dob > G.as_of ? k->dob : NODATE;
        k->first = OPEN;
        age += uint_in(r, YEAR, 3 * YEAR);
    }
    f->team = uint_in(r, 0, G.n_teams - 1);
    f->family_null = n == 1 && bern(r, 0.05) && fnum > NSCRIPTED; /* scripted: F-00000N */
    f->involved = bern(r, G.involved);
    for (int i = 0; i < n; i++)
        f->k[i].disability = bern(r, f->involved ? 0.08 : 0.03);
    if (fnum <= NSCRIPTED) {
        f->involved = 1;
        f->chair = w_chair(uint_in(r, 0, G.n_chairs - 1));
        scripted(f, (int)fnum - 1);
    } else if (f->involved) {
        simulate(f);
        f->wnb = f->any_neglect ? 0.08 + 0.17 * unif(r) : 0.02 + 0.05 * unif(r);
        if (G.tail_share > 0)
            for (int i = 0; i < n; i++)
                add_tail(f, i);
    }
}

/* ------------------------------------------------------------- bad rows */

static void write_row(int tbl, const row_t *row)
{
    for (int i = 0; i < row->nf; i++) {
        if (i)
            oput("\t", 1);
        if (row->null[i])
            oput("\\N", 2);
        else
            oput_text(row->v[i], row->len[i]);
    }
    oput("\n", 1);
    G.rows[tbl]++;
}

static void alter_date(row_t *row, int i, int base, rng_t *r)
{
    if (row->null[i])
        f_date(row, i, base + uint_in(r, 1, 90));
    else
        f_null(row, i);
}

/* same key, different content */
static void alter(int tbl, row_t *row, rng_t *r)
{
    char buf[FLEN];
    switch (tbl) {
    case T_TEAMS:
        snprintf(buf, sizeof buf, "%.60s (old)", row->v[1]);
        f_str(row, 1, buf);
        break;
    case T_WORKERS:
        snprintf(buf, sizeof buf, "%.40s.old@la.example", row->v[0]);
        f_str(row, 2, buf);
        break;
    case T_CHILDREN:
        f_bool(row, 4, row->v[4][0] != 't');
        break;
    case T_ALLOC:
    case T_CIN:
        if (row->null[f_start[tbl]])
            f_date(row, f_start[tbl], G.as_of - uint_in(r, 30, 400));
        alter_date(row, f_end[tbl], row->day[f_start[tbl]], r);
        break;
    case T_CP:
        if (bern(r, 0.5) && !row->null[4]) {
            int c = uint_in(r, 0, NCAT - 1);
            if (!row->null[5] && strcmp(row->v[5], catname[c]) == 0)
                c = (c + 1) % NCAT;
            f_str(row, 5, catname[c]);
        } else {
            if (row->null[2])
                f_date(row, 2, G.as_of - uint_in(r, 30, 400));
            alter_date(row, 3, row->day[2], r);
        }
        break;
    case T_REF: {
        char need[4] = "N1";
        need[1] = (char)('1' + uint_in(r, 0, 8));
        if (!row->null[3] && strcmp(row->v[3], need) == 0)
            need[1] = need[1] == '9' ? '1' : (char)(need[1] + 1);
        f_str(row, 3, need);
        break;
    }
    case T_APPT:
        f_str(row, 4, strcmp(row->v[4], "attended") == 0 ? "cancelled_by_service" : "attended");
        break;
    case T_STRAT:
        if (row->null[3])
            f_date(row, 3, G.as_of - uint_in(r, 30, 400));
        alter_date(row, 4, row->day[3] + 30, r);
        break;
    }
}

static void unknown_child(row_t *row, rng_t *r)
{
    f_child(row, 1, G.children + 1 + uint_in(r, 0, 99999));
    G.missing++;
}

/* turn a clean row into a bad row of kind k and write it (one or two rows) */
static void apply_bad(int tbl, int k, row_t *row, int already_written)
{
    rng_t *r = &G.brng[tbl];
    char buf[FLEN];
    G.bad[tbl][k]++;
    switch (k) {
    case K_NULL_KEY: f_null(row, 0); break;
    case K_NULL_CHILD: f_null(row, 1); break;
    case K_DUP_KEY:
        if (!already_written)
            write_row(tbl, row);
        alter(tbl, row, r);
        break;
    case K_IDENT_DUP:
        if (!already_written)
            write_row(tbl, row);
        break;
    case K_NULL_WORKER: f_null(row, 2); break;
    case K_NULL_START: f_null(row, f_start[tbl]); break;
    case K_END_BEFORE_START:
    case K_CLOSURE_BEFORE_REF:
    case K_REVIEW_BEFORE: {
        int s = f_start[tbl], e = f_end[tbl];
        if (row->null[s])
            f_date(row, s, G.as_of - uint_in(r, 30, 400));
        f_date(row, e, row->day[s] - uint_in(r, 1, 60));
        if (k == K_CLOSURE_BEFORE_REF && row->null[6])
            f_str(row, 6, "RC8");
        break;
    }
    case K_DANGLING_WORKER: f_worker(row, 2, w_dangling(r)); break;
    case K_NULL_REFDATE: f_null(row, 2); break;
    case K_NULL_NEGLECT: f_null(row, 4); break;
    case K_NULL_CATEGORY:
        f_null(row, 4);
        f_null(row, 5);
        break;
    case K_UNKNOWN_CATEGORY: {
        static const char *const bad[] = {"XYZ", "NEGLECT", "N1", "UNK", "XYZ"};
        const char *v = bad[uint_in(r, 0, 4)];
        if (bern(r, 0.25) && !row->null[4])
            f_str(row, 5, v);
        else
            f_str(row, 4, v);
        break;
    }
    case K_DANGLING_CHAIR: f_worker(row, 6, w_dangling(r)); break;
    case K_NULL_SCHED: f_null(row, 3); break;
    case K_UNKNOWN_OUTCOME: {
        static const char *const bad[] = {"dna", "did_not_attend", "unknown", "no_show"};
        f_str(row, 4, bad[uint_in(r, 0, 3)]);
        break;
    }
    case K_NULL_DECIDED: f_null(row, 3); break;
    case K_DANGLING_SUP: f_worker(row, 4, w_dangling(r)); break;
    case K_DANGLING_TEAM:
        snprintf(buf, sizeof buf, "T-9%02d", uint_in(r, 0, 99));
        f_str(row, 3, buf);
        break;
    case K_MISSING_CHILD: unknown_child(row, r); break;
    }
    write_row(tbl, row);
}

static int nkinds_of(int tbl)
{
    int n = 0;
    while (tkinds[tbl][n] >= 0)
        n++;
    return n;
}

static void ssd_row(int tbl, const row_t *row);

static void emit(int tbl, row_t *row)
{
    if (G.ssd) {
        ssd_row(tbl, row);
        G.rows[tbl]++;
        return;
    }
    if (G.bad_p > 0 && unif(&G.brng[tbl]) < G.bad_p) {
        int k = tkinds[tbl][uint_in(&G.brng[tbl], 0, nkinds_of(tbl) - 1)];
        apply_bad(tbl, k, row, 0);
        return;
    }
    write_row(tbl, row);
    if (G.tmpl_ok && (!G.have_tmpl[tbl] || (G.rows[tbl] & 127) == 0)) {
        G.tmpl[tbl] = *row;
        G.have_tmpl[tbl] = 1;
    }
}

/* a stand-in row for a table that produced none (tiny populations) */
static void default_row(int tbl, row_t *row)
{
    memset(row, 0, sizeof *row);
    row->nf = tnf[tbl];
    for (int i = 0; i < row->nf; i++)
        f_null(row, i);
    int d = G.as_of - 200;
    long c = G.children; /* the last child: the first ones are scripted cases */
    switch (tbl) {
    case T_ALLOC:
        f_id(row, 0, "AL-", c, 6, 99, 2);
        f_child(row, 1, c);
        f_worker(row, 2, w_sw(0, 0));
        f_date(row, 3, d);
        break;
    case T_REF:
        f_id(row, 0, "REF-", c, 6, 99, 2);
        f_child(row, 1, c);
        f_date(row, 2, d);
        f_str(row, 3, "N1");
        f_bool(row, 4, 1);
        break;
    case T_CIN:
        f_id(row, 0, "CIN-", c, 6, 99, 2);
        f_child(row, 1, c);
        f_date(row, 2, d);
        f_bool(row, 4, 1);
        break;
    case T_CP:
        f_id(row, 0, "CPP-", c, 6, 99, 2);
        f_child(row, 1, c);
        f_date(row, 2, d);
        f_str(row, 4, "NEG");
        f_worker(row, 6, w_chair(0));
        break;
    case T_APPT:
        f_id(row, 0, "APT-", c, 6, 999, 3);
        f_child(row, 1, c);
        f_str(row, 2, "gp");
        f_date(row, 3, d);
        memcpy(row->v[3] + 10, " 10:00:00+00", 13);
        row->len[3] = 22;
        f_str(row, 4, "attended");
        break;
    case T_STRAT:
        f_id(row, 0, "STR-", c, 6, 99, 2);
        f_child(row, 1, c);
        f_str(row, 2, "plo");
        f_date(row, 3, d);
        f_date(row, 4, d + 90);
        break;
    }
}

/* every kind the table has not produced by chance, once, at its end */
static void finish_bad(int tbl)
{
    if (G.bad_p <= 0)
        return;
    for (int j = 0; tkinds[tbl][j] >= 0; j++) {
        int k = tkinds[tbl][j];
        if (G.bad[tbl][k] > 0)
            continue;
        row_t row;
        int written = 1;
        if (G.have_tmpl[tbl])
            row = G.tmpl[tbl];
        else {
            default_row(tbl, &row);
            write_row(tbl, &row);
            G.tmpl[tbl] = row;
            G.have_tmpl[tbl] = 1;
        }
        if (k != K_DUP_KEY && k != K_IDENT_DUP) {
            char key[FLEN];
            snprintf(key, sizeof key, "%.70s-X%d", row.v[0], k);
            f_str(&row, 0, key);
            written = 0;
        }
        apply_bad(tbl, k, &row, written);
    }
}

/* ----------------------------------------------------------------- tables */

static void emit_teams(void)
{
    static const char *const area[] = {"North", "South", "East", "West", "Central", "Riverside",
                                       "St Mary's", "Northgate", "Harbour", "Valley", "Moorside",
                                       "Castle", "Parkway", "Brookfield", "Hillcrest", "Westgate"};
    static const char *const kind[] = {"Family Safeguarding", "Children in Need", "Assessment",
                                       "Child Protection", "Early Help"};
    row_t row = {.nf = 4};
    for (int t = 0; t < G.n_teams; t++) {
        char buf[FLEN];
        f_id(&row, 0, "T-", t + 1, 3, 0, 0);
        int na = (int)(sizeof area / sizeof area[0]);
        if (t < na * 5)
            snprintf(buf, sizeof buf, "%s %s Team", area[t % na], kind[(t / na) % 5]);
        else
            snprintf(buf, sizeof buf, "%s %s Team %d", area[t % na], kind[(t / na) % 5], t / (na * 5) + 1);
        f_str(&row, 1, buf);
        if (t % 8 == 5) /* a few teams without a manager mailbox */
            f_null(&row, 2);
        else {
            snprintf(buf, sizeof buf, "tm.t%03d@la.example", t + 1);
            f_str(&row, 2, buf);
        }
        /* A third have their own channel, when asked for: driftwatch posts to a team's URL
         * (ALERTS.md), and one that resolves nowhere would only fail, run after run. */
        if (G.team_hooks && t % 3 == 0) {
            snprintf(buf, sizeof buf, "%s/team-%03d", G.team_hooks, t + 1);
            f_str(&row, 3, buf);
        } else
            f_null(&row, 3);
        emit(T_TEAMS, &row);
    }
}

static void emit_workers(void)
{
    static const char *const first[] = {"Priya", "James", "Aisha", "Tom", "Grace", "Mohammed", "Sophie",
                                        "Daniel", "Chloe", "Kwame", "Hannah", "Liam", "Fatima", "Oliver",
                                        "Zoë", "Ryan", "Megan", "Tariq", "Emma", "Siobhán", "Lewis",
                                        "Amara", "Jack", "Niamh", "Ben", "Rachel", "Yusuf", "Laura"};
    static const char *const last[] = {"Shah", "Smith", "Khan", "O'Connor", "Jones", "Okafor", "Williams",
                                       "Nowak", "Taylor", "Brown", "Patel", "Evans", "Begum", "Wilson",
                                       "Hughes", "Mensah", "Roberts", "Kaur", "Walker", "Davies", "Lee",
                                       "Murphy", "Ali", "Thompson", "Green", "Wright", "Clarke", "Ahmed"};
    const int nfirst = (int)(sizeof first / sizeof first[0]), nlast = (int)(sizeof last / sizeof last[0]);
    row_t row = {.nf = 6};
    for (long w = 1; w <= G.n_workers; w++) {
        rng_t r;
        char buf[FLEN];
        rng_seed(&r, G.seed, (uint64_t)w, 3);
        const char *role;
        long sup = -1;
        int team = -1;
        if (w == 1)
            role = "head_of_service";
        else if (w < G.id_chair0) {
            role = "cp_manager";
            sup = 1;
        } else if (w < G.id_team0) {
            role = "cp_chair";
            sup = G.id_cpm0 + (w - G.id_chair0) % G.n_cpm;
        } else {
            long off = (w - G.id_team0) % G.block;
            team = (int)((w - G.id_team0) / G.block);
            if (off == 0) {
                role = "team_manager";
                sup = 1;
            } else {
                role = off <= G.sw ? "social_worker" : "early_help";
                sup = w_tm(team);
            }
        }
        f_worker(&row, 0, w);
        snprintf(buf, sizeof buf, "%s %s", first[uint_in(&r, 0, nfirst - 1)], last[uint_in(&r, 0, nlast - 1)]);
        f_str(&row, 1, buf);
        if ((strcmp(role, "social_worker") == 0 || strcmp(role, "early_help") == 0) && bern(&r, 0.03))
            f_null(&row, 2);
        else {
            snprintf(buf, sizeof buf, "w%ld@la.example", w);
            f_str(&row, 2, buf);
        }
        if (team >= 0)
            f_id(&row, 3, "T-", team + 1, 3, 0, 0);
        else
            f_null(&row, 3);
        if (sup > 0)
            f_worker(&row, 4, sup);
        else
            f_null(&row, 4);
        f_str(&row, 5, role);
        emit(T_WORKERS, &row);
    }
}

static void emit_children(fam_t *f)
{
    row_t row = {.nf = 5};
    rng_t *br = &G.brng[T_CHILDREN];
    for (int i = 0; i < f->nkids; i++) {
        kid_t *k = &f->k[i];
        if (k->tail)
            G.tail_children++;
        /* children.missing: a child with case rows but no person record */
        if (k->visible && G.bad_p > 0 && unif(br) < G.bad_p) {
            G.missing++;
            G.bad[T_CHILDREN][K_MISSING_CHILD]++;
            continue;
        }
        f_child(&row, 0, k->num);
        if (f->family_null)
            f_null(&row, 1);
        else
            f_id(&row, 1, "F-", f->num, 6, 0, 0);
        f_date(&row, 2, k->dob > G.as_of ? NODATE : k->dob);
        f_date(&row, 3, k->expected);
        f_bool(&row, 4, k->disability);
        emit(T_CHILDREN, &row);
    }
}

static void emit_alloc(fam_t *f)
{
    row_t row = {.nf = 5};
    for (int i = 0; i < f->nal; i++) {
        al_t *a = &f->al[i];
        if (!shown(a->end))
            continue;
        long c = f->k[a->kid].num;
        f_id(&row, 0, "AL-", c, 6, a->seq, 2);
        f_child(&row, 1, c);
        f_worker(&row, 2, a->worker);
        f_date(&row, 3, a->start);
        f_date(&row, 4, a->end);
        emit(T_ALLOC, &row);
    }
}

static void emit_ref(fam_t *f)
{
    row_t row = {.nf = 7};
    for (int i = 0; i < f->nref; i++) {
        ref_t *x = &f->ref[i];
        if (!shown(x->closure))
            continue;
        long c = f->k[x->kid].num;
        char need[3] = {'N', (char)('0' + x->need), 0};
        f_id(&row, 0, "REF-", c, 6, x->seq, 2);
        f_child(&row, 1, c);
        f_date(&row, 2, x->date);
        f_str(&row, 3, need);
        /* The SSD has no neglect flag on a referral: need N1 or assessment factor 16A. */
        f_bool(&row, 4, x->neglect || (G.ssd_compat && x->need == 1));
        f_date(&row, 5, x->closure);
        if (x->reason)
            f_id(&row, 6, "RC", x->reason, 0, 0, 0);
        else
            f_null(&row, 6);
        emit(T_REF, &row);
    }
}

/* The written referral of x's child with the latest date on or before x's start (ties: the
 * greatest id), or NULL. */
static const ref_t *cin_referral(const fam_t *f, const cin_t *x)
{
    const ref_t *best = NULL;
    for (int i = 0; i < f->nref; i++) {
        const ref_t *r = &f->ref[i];
        if (r->kid != x->kid || !shown(r->closure) || r->date == NODATE || r->date > x->start)
            continue;
        if (!best || r->date > best->date || (r->date == best->date && r->seq > best->seq))
            best = r;
    }
    return best;
}

static void emit_cin(fam_t *f)
{
    row_t row = {.nf = 5};
    unsigned long_ng = 0;
    int six = add_months(G.as_of, -6);
    for (int i = 0; i < f->ncin; i++) {
        cin_t *x = &f->cin[i];
        if (!shown(x->end))
            continue;
        if (x->neglect && x->end == OPEN && x->start <= six)
            long_ng |= 1u << x->kid;
        long c = f->k[x->kid].num;
        f_id(&row, 0, "CIN-", c, 6, x->seq, 2);
        f_child(&row, 1, c);
        f_date(&row, 2, x->start);
        f_date(&row, 3, x->end);
        if (G.ssd_compat) {
            /* The SSD has no neglect flag on a CIN plan: it is its referral's (the child's latest
             * written referral on or before the plan's start, as ssd_contract_views.sql takes it). */
            const ref_t *rf = cin_referral(f, x);
            if (rf) {
                f_id(&G.cin_ref, 0, "REF-", c, 6, rf->seq, 2);
                f_bool(&row, 4, rf->neglect || rf->need == 1);
            } else {
                f_null(&G.cin_ref, 0);
                f_null(&row, 4);
            }
        } else
            f_bool(&row, 4, x->neglect);
        emit(T_CIN, &row);
    }
    for (; long_ng; long_ng &= long_ng - 1)
        G.long_neglect_cin++;
}

static void emit_cp(fam_t *f)
{
    row_t row = {.nf = 7};
    for (int i = 0; i < f->ncp; i++) {
        cp_t *x = &f->cp[i];
        if (!shown(x->end))
            continue;
        long c = f->k[x->kid].num;
        f_id(&row, 0, "CPP-", c, 6, x->seq, 2);
        f_child(&row, 1, c);
        f_date(&row, 2, x->start);
        f_date(&row, 3, x->end);
        f_str(&row, 4, catname[x->cat]);
        if (x->latest >= 0)
            f_str(&row, 5, catname[x->latest]);
        else
            f_null(&row, 5);
        if (x->chair > 0)
            f_worker(&row, 6, x->chair);
        else
            f_null(&row, 6);
        emit(T_CP, &row);
    }
}

static void emit_strat(fam_t *f)
{
    row_t row = {.nf = 5};
    for (int i = 0; i < f->nst; i++) {
        st_t *x = &f->st[i];
        long c = f->k[x->kid].num;
        f_id(&row, 0, "STR-", c, 6, x->seq, 2);
        f_child(&row, 1, c);
        f_str(&row, 2, skname[x->kind]);
        f_date(&row, 3, x->decided);
        f_date(&row, 4, x->review);
        emit(T_STRAT, &row);
    }
}

/* appointments ---------------------------------------------------------- */


static double serv_rate(int s, int age_days, int disability)
{
    double y = age_days / 365.25;
    switch (s) {
    case S_HV: return y < 1 ? 7.0 : y < 2.5 ? 1.5 : 0;
    case S_GP: return y < 1 ? 4.0 : 1.3;
    case S_DENTAL: return y < 1 ? 0 : 0.9;
    case S_PAED: return disability ? 3.0 : y < 1 ? 1.0 : 0.12;
    case S_HOSP: return 0.3;
    case S_CAMHS: return y < 8 ? 0 : 0.35;
    }
    return 0;
}

static const double serv_max[NSERV] = {7.0, 4.0, 0.9, 3.0, 0.3, 0.35};

static void fmt_ts(row_t *row, int i, int day, int minute, rng_t *r)
{
    int bst = is_bst(day, minute);
    int off = 0;
    if (bst && bern(r, 0.15)) { /* the same instant written in UTC */
        minute -= 60;
        if (minute < 0) {
            minute += 1440;
            day--;
        }
        bst = 0;
    } else
        off = bst;
    char *p = row->v[i];
    fmt_date(p, day);
    p[10] = ' ';
    put2(p + 11, minute / 60);
    p[13] = ':';
    put2(p + 14, minute % 60);
    memcpy(p + 16, ":00+0", 5);
    p[21] = (char)('0' + off);
    p[22] = 0;
    row->len[i] = 22;
    row->null[i] = 0;
    row->day[i] = day;
}

static const char *const oname[] = {"attended", "was_not_brought", "cancelled_by_family",
                                    "cancelled_by_service", "pending"};

/* a heavy-tail child's appointments: k->tail of them over the written history (add_tail) */
static void tail_appts(const kid_t *k, row_t *row, int seq, double wnb)
{
    rng_t t;
    rng_seed(&t, G.seed, (uint64_t)k->num, 14);
    int from = k->dob > G.H ? k->dob : G.H, to = G.as_of + 60;
    for (int j = 0; j < k->tail; j++) {
        int day = uint_in(&t, from, to);
        int minute = uint_in(&t, 8 * 6, 17 * 6) * 10;
        double u = unif(&t);
        int o = day > G.as_of ? O_PEND : u < wnb ? O_WNB : u < wnb + 0.05 ? O_CBS : O_ATT;
        f_id(row, 0, "APT-", k->num, 6, ++seq, 3);
        f_child(row, 1, k->num);
        f_str(row, 2, servname[uint_in(&t, 0, NSERV - 1)]);
        fmt_ts(row, 3, day, minute, &t);
        f_str(row, 4, oname[o]);
        emit(T_APPT, row);
    }
}

static void emit_appt(fam_t *f)
{
    if (!f->involved)
        return;
    row_t row = {.nf = 5};
    for (int i = 0; i < f->nkids; i++) {
        kid_t *k = &f->k[i];
        if (!k->visible || k->first == OPEN || k->dob > G.as_of)
            continue;
        rng_t r;
        rng_seed(&r, G.seed, (uint64_t)k->num, 7);
        double wnb = f->wnb * (0.5 + unif(&r));
        int from = k->first - 180;
        if (from < G.H)
            from = G.H;
        if (from < k->dob)
            from = k->dob;
        int to = G.as_of + 60;
        int seq = 0;
        for (int j = 0; j < f->nsa; j++) {
            sa_t *a = &f->sa[j];
            if (a->kid != i)
                continue;
            f_id(&row, 0, "APT-", k->num, 6, ++seq, 3);
            f_child(&row, 1, k->num);
            f_str(&row, 2, servname[a->serv]);
            fmt_ts(&row, 3, a->day, a->minute, &r);
            f_str(&row, 4, oname[a->outcome]);
            emit(T_APPT, &row);
        }
        for (int s = 0; s < NSERV; s++) {
            double mean = YEAR / (serv_max[s] * G.appt_mult);
            for (double t = from + rexp(&r, mean); t < to; t += rexp(&r, mean)) {
                int day = (int)t;
                if (unif(&r) * serv_max[s] >= serv_rate(s, day - k->dob, k->disability))
                    continue;
                int minute;
                if (s == S_HOSP) {
                    double u = unif(&r);
                    if (u < 0.4)
                        minute = uint_in(&r, 18 * 12, 23 * 12 + 11) * 5; /* evening */
                    else if (u < 0.5)
                        minute = uint_in(&r, 0, 11) * 5; /* just after midnight */
                    else
                        minute = uint_in(&r, 8 * 12, 17 * 12 + 11) * 5;
                } else {
                    int wd = dow(day);
                    if (wd == 0)
                        day += 1;
                    else if (wd == 6)
                        day += 2;
                    minute = uint_in(&r, 8 * 6, 17 * 6) * 10; /* 08:00 to 17:00 */
                }
                const char *outcome;
                double u = unif(&r);
                if (day > G.as_of)
                    outcome = u < 0.96 ? "pending" : "cancelled_by_service";
                else if (u < wnb)
                    outcome = "was_not_brought";
                else if (u < wnb + 0.04)
                    outcome = "cancelled_by_family";
                else if (u < wnb + 0.08)
                    outcome = "cancelled_by_service";
                else if (u < wnb + 0.09 && day > G.as_of - 30)
                    outcome = "pending"; /* outcome not recorded yet */
                else
                    outcome = "attended";
                seq++;
                f_id(&row, 0, "APT-", k->num, 6, seq, 3);
                f_child(&row, 1, k->num);
                f_str(&row, 2, servname[s]);
                fmt_ts(&row, 3, day, minute, &r);
                f_str(&row, 4, outcome);
                emit(T_APPT, &row);
            }
        }
        if (k->tail)
            tail_appts(k, &row, seq, wnb);
    }
}

/* ------------------------------------------------------------------ main */

/* ------------------------------------------------------------- --ssd */

/* The same population as the Standard Safeguarding Dataset holds it (its PostgreSQL build's
 * tables, tests/fixtures/ssd_tables.sql) plus contrib/ssd/local_schema.sql's gap tables, so
 * that contrib/ssd/ssd_contract_views.sql gives back what --ssd-compatible writes in the
 * contract's shape. Each SSD table is one pass over a contract table's rows (SP_* says which
 * part of a row it writes), with the variations the SSD's builds show: categories as codes or
 * descriptions, involvement roles spelled two ways, assessment factors in each JSON form, CIN
 * plans with and without a referral id, other authorities' CP plans (left out by the views),
 * a second family for some children, and staff numbers that are other workers' professional
 * ids (worker n's staff number is "w" n+1). */
enum {
    SP_DEPT, SP_LTEAMS, SP_PROF, SP_LWORKERS, SP_PERSON, SP_FAMILY, SP_DISABILITY, SP_INVO,
    SP_EPISODES, SP_ASSESS, SP_FACTORS, SP_CINP, SP_CPP, SP_CHAIRS, SP_APPT, SP_STRAT, NSP
};
static const struct { int src, local; const char *name, *cols; } sp[NSP] = {
    {T_TEAMS, 0, "ssd_department", "dept_team_id, dept_team_name"},
    {T_TEAMS, 1, "teams", "team_id, name, manager_email, webhook_url"},
    {T_WORKERS, 0, "ssd_professionals", "prof_professional_id, prof_staff_id, prof_professional_name"},
    {T_WORKERS, 1, "workers", "staff_id, professional_id, display_name, email, team_id, supervisor_staff_id, role"},
    {T_CHILDREN, 0, "ssd_person", "pers_person_id, pers_dob, pers_expected_dob"},
    {T_CHILDREN, 0, "ssd_family", "fami_table_id, fami_family_id, fami_person_id"},
    {T_CHILDREN, 0, "ssd_disability", "disa_table_id, disa_person_id, disa_disability_code"},
    {T_ALLOC, 0, "ssd_involvements", "invo_involvements_id, invo_professional_id, invo_professional_role_id, "
                                     "invo_person_id, invo_involvement_start_date, invo_involvement_end_date"},
    {T_REF, 0, "ssd_cin_episodes", "cine_referral_id, cine_person_id, cine_referral_date, "
                                   "cine_cin_primary_need_code, cine_close_date, cine_close_reason"},
    {T_REF, 0, "ssd_cin_assessments", "cina_assessment_id, cina_person_id, cina_referral_id, "
                                      "cina_assessment_start_date"},
    {T_REF, 0, "ssd_assessment_factors", "cinf_table_id, cinf_assessment_id, cinf_assessment_factors_json"},
    {T_CIN, 0, "ssd_cin_plans", "cinp_cin_plan_id, cinp_referral_id, cinp_person_id, cinp_cin_plan_start_date, "
                                "cinp_cin_plan_end_date"},
    {T_CP, 0, "ssd_cp_plans", "cppl_cp_plan_id, cppl_person_id, cppl_cp_plan_start_date, cppl_cp_plan_end_date, "
                              "cppl_cp_plan_ola, cppl_cp_plan_initial_category, cppl_cp_plan_latest_category"},
    {T_CP, 1, "cp_chairs", "plan_id, chair_staff_id"},
    {T_APPT, 1, "appointments", "appointment_id, child_id, service, scheduled_for, outcome"},
    {T_STRAT, 1, "strategies", "strategy_id, child_id, kind, decided_on, review_by"},
};

static const char *const catdesc[NCAT] = {"Neglect", "Physical Abuse", "Emotional Abuse", "Sexual Abuse",
                                          "Multiple"};

/* one COPY field: a value, or NULL when s is NULL */
static void sf(int first, const char *s)
{
    if (!first)
        oput("\t", 1);
    if (!s)
        oput("\\N", 2);
    else
        oput_text(s, strlen(s));
}

static const char *fv(const row_t *r, int i) { return r->null[i] ? NULL : r->v[i]; }

/* a date field as an SSD TIMESTAMP (a time of day, which the views drop) */
static void sf_ts(int first, const row_t *r, int i, const char *time)
{
    char b[FLEN + 16];
    if (r->null[i]) {
        sf(first, NULL);
        return;
    }
    snprintf(b, sizeof b, "%s %s", r->v[i], time);
    sf(first, b);
}

/* the number after the last non-digit of s, e.g. 12 of "w12" or of "C-000012-03"'s seq */
static long tail_num(const char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
        i--;
    return i < n ? strtol(s + i, NULL, 10) : 0;
}

static void ssd_staff(char *b, size_t n, const char *worker)
{
    snprintf(b, n, "w%ld", tail_num(worker) + 1);
}

static int cat_of(const char *code)
{
    for (int c = 0; c < NCAT; c++)
        if (code && strcmp(code, catname[c]) == 0)
            return c;
    return -1;
}

static void ssd_row(int tbl, const row_t *row)
{
    char b[2 * FLEN], b2[2 * FLEN];
    const char *id = row->v[0];
    long n = tail_num(id);
    (void)tbl;
    switch (G.ssd_pass) {
    case SP_DEPT: sf(1, id); sf(0, fv(row, 1)); break;
    case SP_LTEAMS: sf(1, id); sf(0, NULL); sf(0, fv(row, 2)); sf(0, fv(row, 3)); break;
    case SP_PROF:
        ssd_staff(b, sizeof b, id);
        sf(1, id); sf(0, b); sf(0, fv(row, 1));
        break;
    case SP_LWORKERS:
        ssd_staff(b, sizeof b, id);
        sf(1, b); sf(0, NULL); sf(0, fv(row, 1)); sf(0, fv(row, 2)); sf(0, fv(row, 3));
        if (row->null[4])
            sf(0, NULL);
        else {
            ssd_staff(b2, sizeof b2, row->v[4]);
            sf(0, b2);
        }
        sf(0, fv(row, 5));
        break;
    case SP_PERSON: sf(1, id); sf_ts(0, row, 2, "00:00:00"); sf_ts(0, row, 3, "00:00:00"); break;
    case SP_FAMILY:
        if (row->null[1])
            return;
        snprintf(b, sizeof b, "%s-1", id);
        sf(1, b); sf(0, row->v[1]); sf(0, id);
        if (n % 5 == 0) { /* a second family: the views keep the first by id */
            oput("\n", 1);
            snprintf(b, sizeof b, "%s-2", id);
            snprintf(b2, sizeof b2, "FX-%s", row->v[1]);
            sf(1, b); sf(0, b2); sf(0, id);
        }
        break;
    case SP_DISABILITY:
        if (strcmp(row->v[4], "t") == 0) {
            snprintf(b, sizeof b, "%s-1", id);
            sf(1, b); sf(0, id); sf(0, "MOB");
        } else if (n % 4 == 0) {
            snprintf(b, sizeof b, "%s-1", id);
            sf(1, b); sf(0, id); sf(0, n % 8 == 0 ? "NONE" : "none");
        } else
            return;
        break;
    case SP_INVO:
        sf(1, id); sf(0, fv(row, 2));
        sf(0, n % 2 ? "CW" : "Allocated Case Worker");
        sf(0, fv(row, 1)); sf_ts(0, row, 3, "09:15:00"); sf_ts(0, row, 4, "17:30:00");
        break;
    case SP_EPISODES: sf(1, id); sf(0, fv(row, 1)); sf_ts(0, row, 2, "11:00:00"); sf(0, fv(row, 3));
        sf_ts(0, row, 5, "16:00:00"); sf(0, fv(row, 6));
        break;
    case SP_ASSESS:
    case SP_FACTORS: {
        /* an assessment with factors for every referral; 16A where neglect is not N1's */
        int neg = strcmp(row->v[4], "t") == 0 && strcmp(row->v[3], "N1") != 0;
        snprintf(b, sizeof b, "A-%s", id);
        if (G.ssd_pass == SP_ASSESS) {
            sf(1, b); sf(0, fv(row, 1)); sf(0, id); sf_ts(0, row, 2, "14:00:00");
            break;
        }
        static const char *const forms[2][3] = {
            {"[\"3B\"]", "[null, \"3B\", null]", "{\"16A\": \"No\", \"3B\": \"Yes\"}"},
            {"[\"3B\", \"16A\"]", "[null, \"16A\", null]", "{\"16A\": \"Yes\", \"3B\": \"No\"}"}};
        snprintf(b2, sizeof b2, "F-%s", id);
        sf(1, b2); sf(0, b); sf(0, forms[neg][n % 3]);
        break;
    }
    case SP_CINP:
        sf(1, id);
        /* half the plans name their referral, the other half leave the views to find it */
        sf(0, n % 2 && !G.cin_ref.null[0] ? G.cin_ref.v[0] : NULL);
        sf(0, fv(row, 1)); sf_ts(0, row, 2, "10:00:00"); sf_ts(0, row, 3, "10:00:00");
        break;
    case SP_CPP: {
        int ci = cat_of(fv(row, 4)), cl = cat_of(fv(row, 5));
        int desc = tail_num(row->v[1]) % 2;
        sf(1, id); sf(0, fv(row, 1)); sf_ts(0, row, 2, "12:00:00"); sf_ts(0, row, 3, "12:00:00");
        sf(0, n % 3 ? "N" : NULL);
        sf(0, ci >= 0 && desc ? catdesc[ci] : fv(row, 4));
        sf(0, cl >= 0 && desc ? catdesc[cl] : fv(row, 5));
        if (n == 1 && tail_num(row->v[1]) % 7 == 0) { /* another authority's plan: left out */
            oput("\n", 1);
            snprintf(b, sizeof b, "%s-OLA", id);
            sf(1, b); sf(0, fv(row, 1)); sf_ts(0, row, 2, "12:00:00"); sf(0, NULL);
            sf(0, "Y"); sf(0, "Neglect"); sf(0, NULL);
        }
        break;
    }
    case SP_CHAIRS:
        if (row->null[6])
            return;
        ssd_staff(b, sizeof b, row->v[6]);
        sf(1, id); sf(0, b);
        break;
    default: /* SP_APPT, SP_STRAT: the contract's own shape */
        for (int i = 0; i < row->nf; i++)
            sf(i == 0, fv(row, i));
    }
    oput("\n", 1);
}

static void for_each_family(void (*fn)(fam_t *))
{
    long child = 1;
    for (long fnum = 1; child <= G.children; fnum++) {
        gen_family(&F, fnum, child);
        G.tmpl_ok = fnum > NSCRIPTED;
        fn(&F);
        child += F.nkids;
    }
}

static void put_ident(const char *s)
{
    oput("\"", 1);
    for (; *s; s++) {
        if (*s == '"')
            oput("\"", 1);
        oput(s, 1);
    }
    oput("\"", 1);
}

static void table(int tbl)
{
    rng_seed(&G.brng[tbl], G.seed, (uint64_t)tbl, 0xBAD);
    oputs("COPY ");
    if (G.ssd) {
        put_ident(sp[G.ssd_pass].local ? G.local_schema : G.schema);
        oputs(".");
        oputs(sp[G.ssd_pass].name);
        oputs(" (");
        oputs(sp[G.ssd_pass].cols);
    } else {
        put_ident(G.schema);
        oputs(".");
        oputs(tname[tbl]);
        oputs(" (");
        oputs(tcols[tbl]);
    }
    oputs(") FROM STDIN;\n");
    G.tmpl_ok = 1;
    switch (tbl) {
    case T_TEAMS: emit_teams(); break;
    case T_WORKERS: emit_workers(); break;
    case T_CHILDREN: for_each_family(emit_children); break;
    case T_ALLOC: for_each_family(emit_alloc); break;
    case T_REF: for_each_family(emit_ref); break;
    case T_CIN: for_each_family(emit_cin); break;
    case T_CP: for_each_family(emit_cp); break;
    case T_APPT: for_each_family(emit_appt); break;
    case T_STRAT: for_each_family(emit_strat); break;
    }
    finish_bad(tbl);
    oputs("\\.\n");
}

static void usage(FILE *out)
{
    fputs("usage: dwgen --children N --seed S --as-of YYYY-MM-DD [--bad-rows PERMILLE]\n"
          "             [--schema NAME] [--shape NAME] [shape options] [--summary]\n"
          "Writes synthetic case data for driftwatch's nine contract relations as a psql\n"
          "script of COPY blocks on stdout (pipe it into psql -v ON_ERROR_STOP=1).\n"
          "  --children N      population size (children in the authority), default 10000\n"
          "  --seed S          seed; the same arguments give byte-identical output, default 1\n"
          "  --as-of DATE      the last day of the history (required)\n"
          "  --bad-rows P      bad rows per 1000 rows, default 2; 0 turns them off\n"
          "  --schema NAME     schema of the tables, default casework\n"
          "  --team-webhooks BASE  a third of teams get webhook_url BASE/team-NNN (driftwatch\n"
          "                    posts their alerts there); default: no team has one\n"
          "  --summary         print row and bad-row counts, and the shape, on stderr\n"
          "  --ssd             write the population as the Standard Safeguarding Dataset's\n"
          "                    tables in --schema and contrib/ssd/local_schema.sql's tables in\n"
          "                    --local-schema (default local); needs --bad-rows 0\n"
          "  --ssd-compatible  the contract's tables, with neglect as the SSD carries it (a\n"
          "                    referral's from need N1 or factor 16A, a CIN plan's from its\n"
          "                    referral): what contrib/ssd's views give back from --ssd\n"
          "Shape: a preset, then any of the options after it (whatever their order)\n"
          "  --shape NAME      default: an England-like authority (DOMAIN.md);\n"
          "                    dense: per 1,000,000 children about 1.6 M allocations, 1.2 M\n"
          "                    referrals, 400 k CIN plans, 120 k CP plans, 5 M appointments,\n"
          "                    10 k strategies, 4,300 workers in 200 teams, and ~80 k children\n"
          "                    on a CIN plan for neglect of over 6 months;\n"
          "                    heavy: default plus a tail of 1% of the involved children\n"
          "                    (~0.15% of all) with hundreds of rows each\n"
          "  --involved P      share of families known to children's social care (0.165)\n"
          "  --referrals X     referral episodes a year per involved family, times X (1)\n"
          "  --plans X         share of referral episodes that lead to a CIN or CP plan, times X (1)\n"
          "  --allocations X   worker changes (new allocations), times X (1)\n"
          "  --appointments X  appointments per involved child, times X (1)\n"
          "  --strategies X    strategies recorded at a long CP plan's 15-month review, times X (1)\n"
          "  --long-cin P      share of CIN plans that run 13 months to 6 years, often never\n"
          "                    closed (0)\n"
          "  --family-sizes W1,W2,...,W6  weights of families of 1 to 6 children\n"
          "                    (45,30,15,7,2.5,0.5)\n"
          "  --tail-share P    share of involved children with a heavy tail of rows (0)\n"
          "  --tail-rows N     such a child's rows in each of allocations, appointments and\n"
          "                    plans: N/2 to 3N/2 (300); a tenth as many referrals\n"
          "  --teams-per-100k X, --workers-per-100k X  the organisation's size (0: about one\n"
          "                    team per 3,000 children, caseloads of 16)\n",
          out);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == 0 || *end != 0 || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int set_shape(const char *name)
{
    G.shape = name;
    G.involved = P_INVOLVED;
    G.ref_mult = G.plan_mult = G.alloc_mult = G.appt_mult = G.strat_mult = 1.0;
    G.long_cin = 0;
    G.famcustom = 0;
    G.tail_share = 0;
    G.tail_rows = 300;
    G.teams_100k = G.workers_100k = 0;
    if (strcmp(name, "default") == 0)
        return 0;
    if (strcmp(name, "dense") == 0) {
        G.involved = DENSE_INVOLVED;
        G.ref_mult = DENSE_REFERRALS;
        G.plan_mult = DENSE_PLANS;
        G.alloc_mult = DENSE_ALLOCATIONS;
        G.appt_mult = DENSE_APPOINTMENTS;
        G.strat_mult = DENSE_STRATEGIES;
        G.long_cin = DENSE_LONG_CIN;
        G.teams_100k = 20;
        G.workers_100k = 430;
        return 0;
    }
    if (strcmp(name, "heavy") == 0) {
        G.tail_share = 0.01;
        return 0;
    }
    return -1;
}

static int set_family_sizes(const char *v)
{
    double w[MAXKIDS] = {0}, sum = 0;
    int n = 0;
    const char *p = v;
    while (*p) {
        char *end;
        if (n == MAXKIDS)
            return -1;
        w[n] = strtod(p, &end);
        if (end == p || !(w[n] >= 0 && w[n] <= 1e6))
            return -1;
        sum += w[n++];
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    if (!(sum > 0))
        return -1;
    double acc = 0;
    for (int i = 0; i < MAXKIDS; i++) {
        acc += w[i] / sum;
        G.famcum[i] = acc;
    }
    G.famcum[MAXKIDS - 1] = 2; /* whatever rounding left */
    G.famcustom = 1;
    return 0;
}

/* one shape option A with value V: 0 done, 1 not a shape option, 2 bad value (said) */
static int shape_option(const char *a, const char *v)
{
    static const struct { const char *name; double *dst; double lo, hi; } dbl[] = {
        {"--involved", &G.involved, 0, 1},       {"--referrals", &G.ref_mult, 0.01, 50},
        {"--plans", &G.plan_mult, 0, 10},        {"--allocations", &G.alloc_mult, 0.01, 50},
        {"--appointments", &G.appt_mult, 0, 50}, {"--strategies", &G.strat_mult, 0, 1.0 / 0.6},
        {"--long-cin", &G.long_cin, 0, 1},       {"--tail-share", &G.tail_share, 0, 1},
        {"--teams-per-100k", &G.teams_100k, 0, 10000},
        {"--workers-per-100k", &G.workers_100k, 0, 100000},
    };
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++) {
        if (strcmp(a, dbl[i].name) != 0)
            continue;
        if (parse_double(v, dbl[i].lo, dbl[i].hi, dbl[i].dst)) {
            fprintf(stderr, "dwgen: %s wants a number from %g to %g\n", a, dbl[i].lo, dbl[i].hi);
            return 2;
        }
        return 0;
    }
    if (strcmp(a, "--tail-rows") == 0) {
        long n;
        if (parse_long(v, 4, 1000, &n)) {
            fprintf(stderr, "dwgen: --tail-rows wants an integer from 4 to 1000\n");
            return 2;
        }
        G.tail_rows = (int)n;
        return 0;
    }
    if (strcmp(a, "--family-sizes") == 0) {
        if (set_family_sizes(v)) {
            fprintf(stderr, "dwgen: --family-sizes wants 1 to %d non-negative weights separated by commas, not all 0\n",
                    MAXKIDS);
            return 2;
        }
        return 0;
    }
    return 1;
}

static void print_summary(void)
{
    fprintf(stderr, "shape %s: involved %g, referrals x%g, plans x%g, allocations x%g, appointments x%g, "
                    "strategies x%g, long CIN %g, tail %g x %d rows, %d teams, %ld workers\n",
            G.shape, G.involved, G.ref_mult, G.plan_mult, G.alloc_mult, G.appt_mult, G.strat_mult, G.long_cin,
            G.tail_share, G.tail_rows, G.n_teams, G.n_workers);
    for (int t = 0; t < NTABLES; t++) {
        fprintf(stderr, "%-13s %10lld rows %8.3f per child", tname[t], G.rows[t], (double)G.rows[t] / G.children);
        for (int k = 0; k < NKINDS; k++)
            if (G.bad[t][k])
                fprintf(stderr, "  %s=%lld", kname[k], G.bad[t][k]);
        fputc('\n', stderr);
    }
    fprintf(stderr, "children on a CIN plan for neglect open on as-of that started 6+ months before: %lld\n",
            G.long_neglect_cin);
    fprintf(stderr, "heavy-tail children %lld; children.missing produced %lld; rows dropped at capacity %lld\n",
            G.tail_children, G.missing, G.dropped);
}

int main(int argc, char **argv)
{
    long children = 10000;
    unsigned long long seed = 1;
    double permille = 2;
    int have_asof = 0;
    G.schema = "casework";
    G.local_schema = "local";
    set_shape("default");
    for (int i = 1; i + 1 < argc; i++) /* the preset first: the other shape options refine it */
        if (strcmp(argv[i], "--shape") == 0 && set_shape(argv[i + 1])) {
            fprintf(stderr, "dwgen: --shape wants default, dense or heavy, not '%s'\n", argv[i + 1]);
            return 2;
        }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--summary") == 0) {
            G.summary = 1;
            continue;
        } else if (strcmp(a, "--ssd") == 0) {
            G.ssd = G.ssd_compat = 1;
            continue;
        } else if (strcmp(a, "--ssd-compatible") == 0) {
            G.ssd_compat = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "dwgen: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        int so = shape_option(a, v);
        if (so == 0)
            continue;
        if (so == 2)
            return 2;
        if (strcmp(a, "--shape") == 0) {
            continue; /* applied above */
        } else if (strcmp(a, "--children") == 0) {
            if (parse_long(v, 1, 50000000, &children)) {
                fprintf(stderr, "dwgen: --children wants an integer from 1 to 50000000\n");
                return 2;
            }
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            seed = strtoull(v, &end, 10);
            if (*v == 0 || *end != 0 || *v == '-') {
                fprintf(stderr, "dwgen: --seed wants a non-negative integer\n");
                return 2;
            }
        } else if (strcmp(a, "--as-of") == 0) {
            if (parse_date(v, &G.as_of)) {
                fprintf(stderr, "dwgen: --as-of wants a date YYYY-MM-DD\n");
                return 2;
            }
            have_asof = 1;
        } else if (strcmp(a, "--bad-rows") == 0) {
            char *end;
            permille = strtod(v, &end);
            if (*v == 0 || *end != 0 || !(permille >= 0 && permille <= 1000)) {
                fprintf(stderr, "dwgen: --bad-rows wants a number from 0 to 1000\n");
                return 2;
            }
        } else if (strcmp(a, "--schema") == 0) {
            if (*v == 0 || strlen(v) > 63) {
                fprintf(stderr, "dwgen: --schema wants a name of 1 to 63 bytes\n");
                return 2;
            }
            G.schema = v;
        } else if (strcmp(a, "--team-webhooks") == 0) {
            if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) || strlen(v) > 80) {
                fprintf(stderr, "dwgen: --team-webhooks wants an http:// or https:// URL of at most 80 bytes\n");
                return 2;
            }
            G.team_hooks = v;
        } else if (strcmp(a, "--local-schema") == 0) {
            if (*v == 0 || strlen(v) > 63) {
                fprintf(stderr, "dwgen: --local-schema wants a name of 1 to 63 bytes\n");
                return 2;
            }
            G.local_schema = v;
        } else {
            fprintf(stderr, "dwgen: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!have_asof) {
        fprintf(stderr, "dwgen: --as-of is required\n");
        usage(stderr);
        return 2;
    }
    if (G.ssd && permille > 0) {
        /* the SSD's tables have primary keys: duplicate and NULL keys cannot be loaded */
        fprintf(stderr, "dwgen: --ssd needs --bad-rows 0 (the SSD's tables have primary keys)\n");
        return 2;
    }
    G.children = children;
    G.seed = seed;
    G.bad_p = permille / 1000.0;
    G.H = add_months(G.as_of, -60);
    G.H0 = add_months(G.as_of, -84);
    setup_org();

    oputs("-- driftwatch synthetic case data (dwgen): COPY blocks for psql\n");
    oputs("SET client_encoding = 'UTF8';\nBEGIN;\n");
    if (G.ssd)
        for (G.ssd_pass = 0; G.ssd_pass < NSP; G.ssd_pass++)
            table(sp[G.ssd_pass].src);
    else
        for (int t = 0; t < NTABLES; t++)
            table(t);
    oputs("COMMIT;\n");
    oflush();
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("dwgen: write");
        return 1;
    }
    if (G.summary)
        print_summary();
    return 0;
}
