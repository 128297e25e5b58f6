/* ff_err: status codes and the error record every fallible call fills in.
 *
 * Functions that can fail return an ff_status and, when given a non-NULL
 * ff_err, write a one-line message that names the file, tensor, shape or peer
 * involved. There is no global error state: the caller owns the ff_err.
 * Only cli/ prints messages and chooses exit codes. */
#ifndef FF_ERR_H
#define FF_ERR_H

typedef enum {
    FF_OK = 0,
    FF_ERR_IO,          /* open/read/write/mmap failed */
    FF_ERR_FORMAT,      /* malformed file or message (bad JSON, lying header) */
    FF_ERR_SHAPE,       /* shapes or dtypes that do not fit together */
    FF_ERR_NOMEM,       /* an allocation failed */
    FF_ERR_ARG,         /* a caller passed an impossible argument */
    FF_ERR_UNSUPPORTED, /* valid request we do not implement (yet) */
    FF_ERR_DEVICE,      /* no CUDA device, CUDA call failed, kernel failed */
    FF_ERR_BUDGET,      /* a memory budget would be exceeded */
    FF_ERR_NOT_FOUND,   /* missing file, key or tensor */
    FF_ERR_INTERNAL     /* a broken invariant of ours */
} ff_status;

#define FF_ERR_MSG_MAX 512

typedef struct {
    ff_status code;
    char msg[FF_ERR_MSG_MAX];
} ff_err;

/* Record an error (printf-style message) in e (may be NULL); returns code so
 * that callers can write `return ff_err_set(err, FF_ERR_IO, "...")`. */
ff_status ff_err_set(ff_err *e, ff_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in e with more context: "<prefix>: <message>"
 * (a prefix written with its own trailing ": " gets no second one). Keeps
 * the code; returns it. */
ff_status ff_err_wrap(ff_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void ff_err_clear(ff_err *e);

/* Stable lower-case name of a status ("io", "format", ...). */
const char *ff_status_name(ff_status s);

#endif
