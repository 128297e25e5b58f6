/* Unit tests of core/ff_err: set, wrap (one ": " between prefix and
 * message, however the prefix is written), truncation to FF_ERR_MSG_MAX. */
#include <string.h>

#include "core/ff_err.h"
#include "tests/common/ff_test.h"

static void test_wrap(void) {
    ff_err e = {0};
    FF_CHECK(ff_err_set(&e, FF_ERR_IO, "cannot create the file: %s", "No such file") == FF_ERR_IO);
    FF_CHECK(ff_err_wrap(&e, "mp4 %s: ", "/x/a.mp4") == FF_ERR_IO);
    FF_CHECK_MSG(!strcmp(e.msg, "mp4 /x/a.mp4: cannot create the file: No such file"), "%s", e.msg);
    ff_err_wrap(&e, "render");
    FF_CHECK_MSG(!strcmp(e.msg, "render: mp4 /x/a.mp4: cannot create the file: No such file"), "%s", e.msg);
    char long_prefix[FF_ERR_MSG_MAX * 2];
    memset(long_prefix, 'p', sizeof long_prefix - 1);
    long_prefix[sizeof long_prefix - 1] = 0;
    ff_err_wrap(&e, "%s", long_prefix);
    FF_CHECK(strlen(e.msg) == FF_ERR_MSG_MAX - 1 && e.code == FF_ERR_IO);
}

int main(void) {
    FF_RUN(test_wrap);
    return ff_test_summary();
}
