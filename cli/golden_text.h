/* golden_text (cli-internal): helpers shared by the text-side golden
 * handlers (golden_t5.c, golden_llama.c, golden_clip_tok.c): a case's
 * component folder, its options and input_values, the expected_values
 * recorded in case.json, and the sentencepiece "model contents" case that
 * the T5 and Llama tokenizers share. Not a handler table (golden_handlers.c). */
#ifndef FF_GOLDEN_TEXT_H
#define FF_GOLDEN_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/golden.h"
#include "core/ff_json.h"
#include "models/tokenizer.h"

/* The case's op starts with the string literal lit. */
#define GT_OP_IS(c, lit) (strncmp((c)->op, (lit), sizeof(lit) - 1) == 0)

/* "<pipeline>/<component>" (component from the case when name is NULL). */
ff_status gt_component_dir(const golden_case *c, const char *name, char *buf, size_t n, ff_err *err);
/* options[key] as an int in [lo, hi] (dflt when absent). */
ff_status gt_opt_int(const golden_case *c, const char *key, int64_t dflt, int64_t lo, int64_t hi, int *out, ff_err *err);
/* input_values[key]: a list of strings, or one string; *items (malloc'd
 * array, caller frees) point into the case's JSON; *n = 0 when absent. */
ff_status gt_string_list(const golden_case *c, const char *key, const char ***items, int *n, ff_err *err);
int gt_json_str_eq(const ff_json *e, const char *s, size_t n);

/* The case's case.json, for the fields golden_case does not carry
 * (expected_values, call). */
ff_status gt_case_doc(const golden_case *c, ff_json_doc **doc, ff_err *err);

/* expected_values.tokens (one list per row of ids, or a single list for a
 * 1-row case when flat) against convert_ids_to_tokens of ids (n rows of
 * len); to_token maps an id to its string (NULL: unknown id). */
typedef const char *(*gt_id_to_token)(const void *tok, int64_t id, size_t *len);
ff_status gt_check_tokens(const golden_case *c, const ff_json *tokens, const int64_t *ids, int rows, int len,
                          gt_id_to_token to_token, const void *tok, ff_err *err);

/* "sentencepiece model contents": scores (F32) and types (I32) of every
 * piece of the tokenizer folder's sentencepiece model; the pieces
 * (expected_values.pieces), the normalizer options and the added-token ids
 * of the case are checked here (a mismatch is an error). */
ff_status gt_spm_contents(const golden_case *c, golden_outputs *outs, ff_err *err);

/* Copies a host tensor into outs under name (the original stays the caller's). */
ff_status gt_out_copy(golden_outputs *outs, const char *name, const ff_tensor *t, ff_err *err);

#endif
