/* ff_log: see ff_log.h. One fprintf per message so lines from threads do
 * not interleave within a line. */
#include "ff_log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void ff_log_init(ff_log *log, ff_log_level level, FILE *sink) {
    log->level = level;
    log->sink = sink;
    log->timestamps = 0;
}

int ff_log_level_parse(const char *s, ff_log_level *out) {
    for (int i = 0; i <= FF_LOG_OFF; i++)
        if (!strcmp(s, level_names[i])) {
            *out = (ff_log_level)i;
            return 0;
        }
    return -1;
}

void ff_logf(const ff_log *log, ff_log_level level, const char *fmt, ...) {
    if (!log || !log->sink || level < log->level || level >= FF_LOG_OFF) return;
    char msg[1024], stamp[32] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log->timestamps) {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        snprintf(stamp, sizeof stamp, "%02d:%02d:%02d.%03d ", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(tv.tv_usec / 1000));
    }
    fprintf(log->sink, "%s[%s] %s\n", stamp, level_names[level], msg);
}
