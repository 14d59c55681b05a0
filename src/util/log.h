/* Diagnostic logging to stderr, filtered by --log-level (debug, info, warn, error).
 * Library code may log at debug/info; user-facing errors are printed by src/cmd/ only. */
#ifndef BERTH_UTIL_LOG_H
#define BERTH_UTIL_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_min_level;

/* Returns 0, or -EINVAL for an unknown name. */
int log_level_parse(const char *name, enum log_level *ret);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)

#endif
