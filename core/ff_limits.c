/* ff_limits: see ff_limits.h. */
#include "ff_limits.h"

#include <string.h>

int ff_utf8_valid(const char *str, size_t n, size_t *bad_at) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            goto bad;
        }
        if (n - i < len) goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) goto bad;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) goto bad;
        i += len;
    }
    return 1;
bad:
    if (bad_at) *bad_at = i;
    return 0;
}

ff_status ff_limits_check_prompt(const char *s, size_t len, const char *what, ff_err *err) {
    if (len > FF_MAX_PROMPT_BYTES)
        return ff_err_set(err, FF_ERR_ARG, "%s is %zu bytes, more than the limit of %d bytes", what, len,
                          FF_MAX_PROMPT_BYTES);
    if (memchr(s, 0, len)) return ff_err_set(err, FF_ERR_ARG, "%s contains a NUL byte", what);
    size_t at = 0;
    if (!ff_utf8_valid(s, len, &at))
        return ff_err_set(err, FF_ERR_ARG, "%s is not valid UTF-8 (byte %zu: 0x%02x)", what, at,
                          (unsigned)(unsigned char)s[at]);
    return FF_OK;
}
