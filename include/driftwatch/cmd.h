/* cmd: the one-shot commands of the command line, each run on the context's event loop. */
#ifndef DRIFTWATCH_CMD_H
#define DRIFTWATCH_CMD_H

struct dw_ctx;

/* --check-config: the contract against the configured schema. Returns the exit status. */
int cmd_check_config(struct dw_ctx *ctx);

/* --once --dry-run [--as-of]: prints alerts as JSON lines. Returns the exit status. */
int cmd_dry_run(struct dw_ctx *ctx, const char *as_of);

/* --once [--as-of]: evaluate, record alert state, deliver due notices. Returns the exit status. */
int cmd_once(struct dw_ctx *ctx, const char *as_of);

/* --install-triggers (install 1) or --remove-triggers (install 0). Returns the exit status. */
int cmd_triggers(struct dw_ctx *ctx, int install);

/* The long-running daemon. Returns the exit status. */
int cmd_run(struct dw_ctx *ctx, const char *config_path);

#endif
