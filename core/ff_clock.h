/* ff_clock (ff_now_*): the one monotonic clock every module measures
 * durations with (CLOCK_MONOTONIC: never jumps with the wall clock). Not
 * for timestamps people read (those are wall-clock time, ff_log). */
#ifndef FF_CLOCK_H
#define FF_CLOCK_H

#include <stdint.h>

double ff_now_s(void);   /* seconds since an arbitrary fixed point */
int64_t ff_now_ms(void); /* the same in whole milliseconds */

#endif
