/* The coordinator's state database across versions, and output name
 * templates (coordinator/store.h, coordinator/outname.h):
 *  - a version-1 state.db (as the previous coordinator wrote it) is
 *    migrated in place: its jobs and chunks load, the new columns and the
 *    outputs table exist, schema is 2; a running chunk is queued again;
 *  - a database of a newer schema is refused with both versions named;
 *  - {job} {item} {seed} {prompt} expand, prompts are slugged, templates
 *    outside the file name, unknown names and a multi-item template
 *    without {item} are refused. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coordinator/coord.h"
#include "coordinator/outname.h"
#include "coordinator/store.h"
#include "tests/common/ff_test.h"
#include "tests/farm/farm_test_util.h"

static void rm_rf(const char *p) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd)) {
    }
}

static ff_status no_send(void *user, const void *rid, size_t len, Ff__Envelope *env, ff_err *err) {
    (void)user, (void)rid, (void)len, (void)env, (void)err;
    return FF_OK;
}

/* The tables exactly as schema version 1 created them. */
static const char *const v1_schema =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE jobs(id INTEGER PRIMARY KEY AUTOINCREMENT, spec BLOB NOT NULL, state TEXT NOT NULL,"
    " priority INTEGER NOT NULL, submitted_at REAL NOT NULL, finished_at REAL, error TEXT);"
    "CREATE TABLE chunks(job_id INTEGER NOT NULL REFERENCES jobs(id), idx INTEGER NOT NULL,"
    " item INTEGER NOT NULL, lat_start INTEGER NOT NULL, lat_count INTEGER NOT NULL, state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, dispatches INTEGER NOT NULL DEFAULT 0,"
    " completions INTEGER NOT NULL DEFAULT 0, worker TEXT, log TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY(job_id, idx));"
    "INSERT INTO meta VALUES('schema', '1'); INSERT INTO meta VALUES('boot', '4');";

static int sql_text(const char *db_path, const char *sql, char *out, size_t n) {
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int rc = -1;
    out[0] = 0;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
        snprintf(out, n, "%s", sqlite3_column_text(q, 0) ? (const char *)sqlite3_column_text(q, 0) : "");
        rc = 0;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return rc;
}

static void test_migrate_v1(void) {
    char dir[512], db_path[600], out_dir[600];
    ff_test_tmp_path("farm_store_v1", dir, sizeof dir);
    rm_rf(dir);
    mkdir(dir, 0755);
    snprintf(db_path, sizeof db_path, "%s/state.db", dir);
    snprintf(out_dir, sizeof out_dir, "%s/outputs", dir);
    mkdir(out_dir, 0755);
    ff_err err = {0};
    char json[1200];
    snprintf(json, sizeof json,
             "{\"model\": \"/m\", \"prompts\": [\"a\", \"b\"], \"seed\": 1, \"frames\": 5, \"width\": 16, \"height\": 16, "
             "\"output\": \"%s/v.y4m\"}",
             out_dir);
    Ff__JobSpec *spec = ft_spec(json, &err);
    if (!spec) fprintf(stderr, "%s\n", err.msg);
    FF_REQUIRE(spec);
    size_t len = ff__job_spec__get_packed_size(spec);
    uint8_t *blob = malloc(len);
    FF_REQUIRE(blob);
    ff__job_spec__pack(spec, blob);
    sqlite3 *db = NULL;
    FF_REQUIRE(sqlite3_open(db_path, &db) == SQLITE_OK);
    FF_REQUIRE(sqlite3_exec(db, v1_schema, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_stmt *q = NULL;
    FF_REQUIRE(sqlite3_prepare_v2(db, "INSERT INTO jobs(spec, state, priority, submitted_at) VALUES(?, 'running', 0, 1000)",
                                  -1, &q, NULL) == SQLITE_OK);
    sqlite3_bind_blob(q, 1, blob, (int)len, SQLITE_TRANSIENT);
    FF_REQUIRE(sqlite3_step(q) == SQLITE_DONE);
    sqlite3_finalize(q);
    FF_REQUIRE(sqlite3_exec(db,
                            "INSERT INTO chunks(job_id, idx, item, lat_start, lat_count, state, dispatches, worker)"
                            " VALUES(1, 0, 0, 0, 2, 'running', 1, 'w-old');"
                            "INSERT INTO chunks(job_id, idx, item, lat_start, lat_count, state) VALUES(1, 1, 1, 0, 2, 'queued');",
                            NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    free(blob);
    ff_jobspec_free(spec);

    ff_coord_opts o = {0};
    o.state_dir = dir;
    o.send = no_send;
    ff_coord *c = NULL;
    FF_REQUIRE_OK(ff_coord_open(&o, 0, &c, &err), &err);
    ff_cstate st;
    FF_CHECK_OK(ff_coord_job_state(c, 1, &st, NULL, &err), &err);
    FF_CHECK(st == FF_CS_RUNNING);
    ff_coord_counts k;
    ff_coord_get_counts(c, &k);
    FF_CHECK_MSG(k.chunks[FF_CS_QUEUED] == 2, "%llu queued", (unsigned long long)k.chunks[FF_CS_QUEUED]);
    ff_coord_close(c);
    char v[64];
    FF_CHECK(sql_text(db_path, "SELECT value FROM meta WHERE key='schema'", v, sizeof v) == 0 && !strcmp(v, "2"));
    FF_CHECK(sql_text(db_path, "SELECT task || ',' || started_at FROM chunks WHERE idx=0", v, sizeof v) == 0);
    FF_CHECK(sql_text(db_path, "SELECT paused FROM jobs WHERE id=1", v, sizeof v) == 0 && !strcmp(v, "0"));
    FF_CHECK(sql_text(db_path, "SELECT count(*) FROM outputs", v, sizeof v) == 0 && !strcmp(v, "0"));
    FF_CHECK(sql_text(db_path, "SELECT log FROM chunks WHERE idx=0", v, sizeof v) == 0 && strstr(v, "w-old"));
    /* opened again: already version 2, nothing to migrate */
    FF_REQUIRE_OK(ff_coord_open(&o, 0, &c, &err), &err);
    ff_coord_close(c);

    /* a newer database is refused, naming both versions */
    FF_REQUIRE(sqlite3_open(db_path, &db) == SQLITE_OK);
    FF_REQUIRE(sqlite3_exec(db, "UPDATE meta SET value='3' WHERE key='schema'", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    ff_store *s = NULL;
    ff_status rs = ff_store_open(dir, &s, &err);
    FF_CHECK(rs == FF_ERR_FORMAT);
    FF_CHECK_MSG(strstr(err.msg, "schema version 3") && strstr(err.msg, "version 2"), "%s", err.msg);
    ff_store_close(s);
}

static void test_outname(void) {
    ff_err err = {0};
    char buf[600];
    Ff__JobSpec *s = ft_spec("{\"model\": \"/m\", \"prompts\": [\"Red Fox!\", \"  a  dog \"], \"seeds\": [5, 6], "
                             "\"frames\": 5, \"output\": \"/o/{job}/x/v-{job}-{item}-{prompt}-{seed}.mp4\"}",
                             &err);
    if (!s) fprintf(stderr, "%s\n", err.msg);
    FF_REQUIRE(s);
    FF_CHECK(ff_outname_check(s, &err) == FF_ERR_ARG && strstr(err.msg, "only be in the file name"));
    free(s->output);
    s->output = strdup("/o/v-{job}-{item}-{prompt}-{seed}.mp4");
    FF_CHECK_OK(ff_outname_check(s, &err), &err);
    FF_CHECK_OK(ff_outname_expand(s, 42, 0, buf, sizeof buf, &err), &err);
    FF_CHECK_MSG(!strcmp(buf, "/o/v-42-0000-red-fox-5.mp4"), "%s", buf);
    FF_CHECK_OK(ff_outname_expand(s, 42, 1, buf, sizeof buf, &err), &err);
    FF_CHECK_MSG(!strcmp(buf, "/o/v-42-0001-a-dog-6.mp4"), "%s", buf);
    FF_CHECK(ff_outname_expand(s, 42, 1, buf, 10, &err) == FF_ERR_ARG);
    free(s->output);
    s->output = strdup("/o/{prompt}.mp4"); /* two items, one name */
    FF_CHECK(ff_outname_check(s, &err) == FF_ERR_ARG && strstr(err.msg, "needs {item}"));
    free(s->output);
    s->output = strdup("/o/{name}-{item}.mp4");
    FF_CHECK(ff_outname_check(s, &err) == FF_ERR_ARG && strstr(err.msg, "not a template name"));
    free(s->output);
    s->output = strdup("/o/plain.mp4"); /* no template: the old naming */
    FF_CHECK_OK(ff_outname_expand(s, 42, 1, buf, sizeof buf, &err), &err);
    FF_CHECK_MSG(!strcmp(buf, "/o/plain_0001.mp4"), "%s", buf);
    free(s->prompts[0]);
    s->prompts[0] = strdup("!!!"); /* nothing to slug */
    free(s->output);
    s->output = strdup("/o/{item}-{prompt}.mp4");
    FF_CHECK_OK(ff_outname_expand(s, 1, 0, buf, sizeof buf, &err), &err);
    FF_CHECK_MSG(!strcmp(buf, "/o/0000-x.mp4"), "%s", buf);
    ff_jobspec_free(s);
}

int main(void) {
    FF_RUN(test_migrate_v1);
    FF_RUN(test_outname);
    return ff_test_summary();
}
