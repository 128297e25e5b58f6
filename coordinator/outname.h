/* outname (ff_outname_*): the path of each item's video from a job's
 * `output`, with name templates: {job} (the job id), {item} (4 digits),
 * {seed} and {prompt} (the item's prompt slugged: lower-case letters and
 * digits, other runs as one '-', at most FF_OUTNAME_SLUG_MAX bytes).
 *
 * Templates may appear only in the last path component (the folder stays
 * the one the output roots checked, outroot.h); a job of several items
 * whose template has no {item} is refused (two items would share a name).
 * An output without '{' keeps the old naming (ff_jobspec_item_output:
 * out.y4m -> out_0003.y4m). "{{" and "}}" are not escapes: a '{' that starts
 * no known name is refused. */
#ifndef FF_OUTNAME_H
#define FF_OUTNAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "framefarm.pb-c.h"

#define FF_OUTNAME_SLUG_MAX 48

/* The template's syntax and placement (above); FF_ERR_ARG with the reason. */
ff_status ff_outname_check(const Ff__JobSpec *spec, ff_err *err);
/* Item `item`'s output path of job `job` into buf. */
ff_status ff_outname_expand(const Ff__JobSpec *spec, uint64_t job, size_t item, char *buf, size_t n, ff_err *err);

#endif
