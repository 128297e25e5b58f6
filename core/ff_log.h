/* ff_log: leveled logging to a sink the caller owns.
 *
 * There is no global logger: main() creates one ff_log and passes it down to
 * whatever wants to report progress or warnings (a NULL ff_log * is valid
 * and discards everything). Errors are not logged here: they travel back as
 * ff_err and cli/ prints them. */
#ifndef FF_LOG_H
#define FF_LOG_H

#include <stdio.h>

typedef enum { FF_LOG_DEBUG = 0, FF_LOG_INFO, FF_LOG_WARN, FF_LOG_ERROR, FF_LOG_OFF } ff_log_level;

typedef struct {
    ff_log_level level; /* messages below it are dropped */
    FILE *sink;         /* not owned; stderr in the CLI */
    int timestamps;     /* prefix "HH:MM:SS.mmm" */
} ff_log;

void ff_log_init(ff_log *log, ff_log_level level, FILE *sink);
/* Parses "debug|info|warn|error|off"; returns -1 when unknown. */
int ff_log_level_parse(const char *s, ff_log_level *out);
void ff_logf(const ff_log *log, ff_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define FF_DEBUG(log, ...) ff_logf((log), FF_LOG_DEBUG, __VA_ARGS__)
#define FF_INFO(log, ...) ff_logf((log), FF_LOG_INFO, __VA_ARGS__)
#define FF_WARN(log, ...) ff_logf((log), FF_LOG_WARN, __VA_ARGS__)

#endif
