/* worker_logtee: a worker's log lines go through to its sink and are kept
 * (bounded) for the result of the task that wrote them
 * (worker/worker_logtee.h); worker_held: the result kept until
 * acknowledged (worker/worker_held.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/ff_test.h"
#include "worker/worker_held.h"
#include "worker/worker_logtee.h"

static void test_logtee(void) {
    FILE *sink = tmpfile();
    FF_REQUIRE(sink);
    ff_log base;
    ff_log_init(&base, FF_LOG_INFO, sink);
    ff_logtee *t = NULL;
    ff_err err = {0};
    FF_REQUIRE_OK(ff_logtee_create(&base, &t, &err), &err);
    const ff_log *log = ff_logtee_log(t);
    FF_INFO(log, "before the task");
    uint64_t mark = ff_logtee_mark(t);
    FF_INFO(log, "loading %s", "the model");
    FF_DEBUG(log, "not at this level");
    FF_WARN(log, "step %d slow", 3);
    char *s = ff_logtee_since(t, mark, 0);
    FF_REQUIRE(s);
    FF_CHECK_MSG(!strcmp(s, "[info] loading the model\n[warn] step 3 slow\n"), "%s", s);
    free(s);
    /* at most max bytes, from a line's start */
    s = ff_logtee_since(t, mark, 30);
    FF_CHECK_MSG(s && !strcmp(s, "[warn] step 3 slow\n"), "%s", s ? s : "(null)");
    free(s);
    /* the ring keeps the last FF_LOGTEE_RING bytes: an old mark gives whole lines of what is left */
    for (int i = 0; i < 2000; i++) FF_INFO(log, "line %04d %s", i, "................................................");
    s = ff_logtee_since(t, mark, 0);
    FF_CHECK(s && strlen(s) <= FF_LOGTEE_RING && !strncmp(s, "[info] line ", 12) && strstr(s, "line 1999"));
    free(s);
    /* everything also went through to the sink */
    fflush(sink);
    FF_CHECK(ftell(sink) > (long)FF_LOGTEE_RING);
    ff_logtee_free(t);
    fclose(sink);
}

static void test_held(void) {
    ff_held h;
    ff_held_init(&h);
    ff_held_add(&h, 7, "frames", 6);
    ff_held_add(&h, 7, "done", 4);
    FF_CHECK(ff_held_task(&h) == 0); /* not finished yet */
    ff_held_finish(&h, 7, 1);
    FF_CHECK(ff_held_task(&h) == 7 && h.kept.n == 2 && h.kept.bytes == 10 && !memcmp(h.kept.msg[1], "done", 4));
    ff_held_add(&h, 8, "x", 1); /* the next task renders: 7 stays kept */
    ff_held_finish(&h, 8, 0);   /* and fails: nothing replaces it */
    FF_CHECK(ff_held_task(&h) == 7);
    ff_held_drop(&h, 9); /* another task's ack changes nothing */
    FF_CHECK(ff_held_task(&h) == 7);
    ff_held_drop(&h, 7);
    FF_CHECK(ff_held_task(&h) == 0 && h.kept.n == 0);
    ff_held_free(&h);
}

int main(void) {
    FF_RUN(test_logtee);
    FF_RUN(test_held);
    return ff_test_summary();
}
