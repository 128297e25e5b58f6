/* bpe_unicode (ff_bpe_uni_*): the Unicode character data the byte-level
 * BPE tokenizers need (bpe.c): general categories (for the pre-tokenizers'
 * \p{L}, \p{N}, \s and BasicTokenizer's control / whitespace tests), Python
 * str.lower() (full mapping, final sigma), NFC normalisation (canonical
 * decomposition, canonical ordering, composition, Hangul), and UTF-8 coding
 * of code point arrays.
 *
 * Data: models/bpe_unicode_tables.inc, generated from Python 3.11's
 * unicodedata (Unicode 14.0) by scripts/gen_unicode_tables.py. Not here:
 * the tokenizers themselves. No state: every function is pure. */
#ifndef FF_BPE_UNICODE_H
#define FF_BPE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"

/* unicodedata.category(chr(cp)) as a two-letter name ("Lu", "Zs", "Cn"). */
const char *ff_bpe_uni_category(uint32_t cp);
int ff_bpe_uni_is_letter(uint32_t cp);   /* \p{L}: Lu Ll Lt Lm Lo */
int ff_bpe_uni_is_number(uint32_t cp);   /* \p{N}: Nd Nl No */
int ff_bpe_uni_is_space(uint32_t cp);    /* \s of the regex engines: the White_Space property */
int ff_bpe_uni_is_cjk(uint32_t cp);      /* BasicTokenizer._is_chinese_char */

/* A UTF-8 string as code points: *cps malloc'd (caller frees); FF_ERR_ARG
 * for malformed UTF-8. */
ff_status ff_bpe_uni_decode(const char *s, size_t n, uint32_t **cps, size_t *ncp, ff_err *err);
/* UTF-8 of one code point into out (4 bytes room); returns its length. */
size_t ff_bpe_uni_encode1(uint32_t cp, char *out);

/* Python str.lower() of cps[0..n) into out (room for 2n; U+0130 becomes two
 * code points); returns the new length. */
size_t ff_bpe_uni_lower(const uint32_t *cps, size_t n, uint32_t *out);

/* unicodedata.normalize("NFC", ...) of cps[0..n): *out malloc'd (caller
 * frees). */
ff_status ff_bpe_uni_nfc(const uint32_t *cps, size_t n, uint32_t **out, size_t *on, ff_err *err);

#endif
