/* store: see store.h. */
#include "coordinator/store.h"

#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/ff_jobspec.h"

#define SCHEMA_VERSION "2"
/* version 1 (before the chunk's task and times, paused jobs, written
 * outputs) is migrated in place: its columns get their defaults. */
static const char *const migrate_1_to_2 =
    "ALTER TABLE chunks ADD COLUMN task INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE chunks ADD COLUMN started_at REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE chunks ADD COLUMN finished_at REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;"
    "UPDATE meta SET value = '2' WHERE key = 'schema';";

struct ff_store {
    sqlite3 *db;
    char *dir;
    uint64_t boot;
    int in_tx;
    sqlite3_stmt *st_chunk_update, *st_job_state, *st_add_chunk, *st_del_chunks, *st_del_job;
    sqlite3_stmt *st_output, *st_del_outputs, *st_job_paused, *st_job_spec;
};

static const char *const cstate_names[FF_CS_COUNT] = {"queued", "running", "done", "failed", "cancelled"};

const char *ff_cstate_name(ff_cstate s) { return (unsigned)s < FF_CS_COUNT ? cstate_names[s] : "?"; }

int ff_cstate_parse(const char *s, ff_cstate *out) {
    for (int i = 0; i < FF_CS_COUNT; i++)
        if (s && !strcmp(s, cstate_names[i])) {
            *out = (ff_cstate)i;
            return 0;
        }
    return -1;
}

static ff_status db_fail(ff_store *s, ff_err *err, const char *what) {
    return ff_err_set(err, FF_ERR_IO, "%s/state.db: %s: %s", s->dir, what, sqlite3_errmsg(s->db));
}

static ff_status exec(ff_store *s, const char *sql, ff_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        ff_status st = ff_err_set(err, FF_ERR_IO, "%s/state.db: %s (in: %.80s)", s->dir, msg ? msg : "error", sql);
        sqlite3_free(msg);
        return st;
    }
    return FF_OK;
}

static ff_status mkdir_p(const char *path, ff_err *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return ff_err_set(err, FF_ERR_ARG, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST) return ff_err_set(err, FF_ERR_IO, "mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST) return ff_err_set(err, FF_ERR_IO, "mkdir %s: %s", buf, strerror(errno));
    return FF_OK;
}

static const char *const schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY AUTOINCREMENT, spec BLOB NOT NULL, state TEXT NOT NULL,"
    " priority INTEGER NOT NULL, submitted_at REAL NOT NULL, finished_at REAL, error TEXT);"
    "CREATE TABLE IF NOT EXISTS chunks(job_id INTEGER NOT NULL REFERENCES jobs(id), idx INTEGER NOT NULL,"
    " item INTEGER NOT NULL, lat_start INTEGER NOT NULL, lat_count INTEGER NOT NULL, state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, dispatches INTEGER NOT NULL DEFAULT 0,"
    " completions INTEGER NOT NULL DEFAULT 0, worker TEXT, log TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY(job_id, idx));"
    "CREATE TABLE IF NOT EXISTS outputs(job_id INTEGER NOT NULL, item INTEGER NOT NULL, written_at REAL NOT NULL,"
    " PRIMARY KEY(job_id, item));";
/* (a new database is created at version 1 and migrated like an old one) */

ff_status ff_store_open(const char *dir, ff_store **out, ff_err *err) {
    ff_status st = mkdir_p(dir, err);
    if (st) return st;
    char path[4200];
    if (snprintf(path, sizeof path, "%s/chunks", dir) >= (int)sizeof path)
        return ff_err_set(err, FF_ERR_ARG, "state dir path too long");
    if ((st = mkdir_p(path, err))) return st;
    ff_store *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return ff_err_set(err, FF_ERR_NOMEM, "opening the state in %s: out of memory", dir);
    }
    snprintf(path, sizeof path, "%s/state.db", dir);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        st = ff_err_set(err, FF_ERR_IO, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        ff_store_close(s);
        return st;
    }
    sqlite3_busy_timeout(s->db, 10000);
    if ((st = exec(s, schema, err))) goto fail;
    /* schema version and boot counter */
    sqlite3_stmt *q = NULL;
    if ((st = exec(s, "BEGIN IMMEDIATE; INSERT OR IGNORE INTO meta VALUES('schema', '1');"
                      "INSERT OR IGNORE INTO meta VALUES('boot', '0');"
                      "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'boot';",
                   err)))
        goto fail;
    if (sqlite3_prepare_v2(s->db, "SELECT (SELECT value FROM meta WHERE key='schema'), (SELECT CAST(value AS INTEGER) FROM meta WHERE key='boot')", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        st = db_fail(s, err, "reading meta");
        sqlite3_finalize(q);
        goto fail;
    }
    const char *ver = (const char *)sqlite3_column_text(q, 0);
    int migrate = ver && !strcmp(ver, "1");
    if (!ver || (strcmp(ver, SCHEMA_VERSION) && !migrate)) {
        st = ff_err_set(err, FF_ERR_FORMAT, "%s: schema version %s, this coordinator reads version %s", path,
                        ver ? ver : "(none)", SCHEMA_VERSION);
        sqlite3_finalize(q);
        goto fail;
    }
    s->boot = (uint64_t)sqlite3_column_int64(q, 1);
    sqlite3_finalize(q);
    if (migrate && (st = exec(s, migrate_1_to_2, err))) {
        exec(s, "ROLLBACK;", NULL);
        ff_err_wrap(err, "%s: migrating the state from schema version 1 to %s", path, SCHEMA_VERSION);
        goto fail;
    }
    if ((st = exec(s, "COMMIT;", err))) goto fail;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE chunks SET state=?3, attempts=?4, dispatches=?5, completions=?6, worker=?7,"
                           " log = CASE WHEN ?8 IS NULL THEN log ELSE substr(log || ?8, -16384) END,"
                           " task=?9, started_at=?10, finished_at=?11"
                           " WHERE job_id=?1 AND idx=?2",
                           -1, &s->st_chunk_update, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "UPDATE jobs SET state=?2, error=?3, finished_at=?4 WHERE id=?1", -1, &s->st_job_state,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO chunks(job_id, idx, item, lat_start, lat_count, state) VALUES(?,?,?,?,?,'queued')",
                           -1, &s->st_add_chunk, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM chunks WHERE job_id=?", -1, &s->st_del_chunks, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM jobs WHERE id=?", -1, &s->st_del_job, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO outputs(job_id, item, written_at) VALUES(?,?,?)", -1,
                           &s->st_output, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM outputs WHERE job_id=?", -1, &s->st_del_outputs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "UPDATE jobs SET paused=?2 WHERE id=?1", -1, &s->st_job_paused, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "UPDATE jobs SET spec=?2, priority=?3 WHERE id=?1", -1, &s->st_job_spec, NULL) !=
            SQLITE_OK) {
        st = db_fail(s, err, "preparing statements");
        goto fail;
    }
    *out = s;
    return FF_OK;
fail:
    ff_store_close(s);
    return st;
}

void ff_store_close(ff_store *s) {
    if (!s) return;
    sqlite3_finalize(s->st_chunk_update);
    sqlite3_finalize(s->st_job_state);
    sqlite3_finalize(s->st_add_chunk);
    sqlite3_finalize(s->st_del_chunks);
    sqlite3_finalize(s->st_del_job);
    sqlite3_finalize(s->st_output);
    sqlite3_finalize(s->st_del_outputs);
    sqlite3_finalize(s->st_job_paused);
    sqlite3_finalize(s->st_job_spec);
    if (s->db) sqlite3_close(s->db);
    free(s->dir);
    free(s);
}

const char *ff_store_dir(const ff_store *s) { return s->dir; }
uint64_t ff_store_boot(const ff_store *s) { return s->boot; }

ff_status ff_store_begin(ff_store *s, ff_err *err) {
    if (s->in_tx) return FF_OK;
    ff_status st = exec(s, "BEGIN IMMEDIATE;", err);
    if (!st) s->in_tx = 1;
    return st;
}

ff_status ff_store_commit(ff_store *s, ff_err *err) {
    if (!s->in_tx) return FF_OK;
    s->in_tx = 0;
    return exec(s, "COMMIT;", err);
}

ff_status ff_store_add_job(ff_store *s, const Ff__JobSpec *spec, double now, const ff_chunk_window *w, size_t n,
                           uint64_t *job_id, ff_err *err) {
    size_t len = ff__job_spec__get_packed_size(spec);
    uint8_t *blob = malloc(len ? len : 1);
    if (!blob) return ff_err_set(err, FF_ERR_NOMEM, "storing a job: out of memory");
    ff__job_spec__pack(spec, blob);
    int outer = s->in_tx;
    ff_status st = outer ? FF_OK : exec(s, "BEGIN IMMEDIATE;", err);
    sqlite3_stmt *q = NULL;
    if (!st && (sqlite3_prepare_v2(s->db, "INSERT INTO jobs(spec, state, priority, submitted_at) VALUES(?, 'queued', ?, ?)",
                                   -1, &q, NULL) != SQLITE_OK ||
                sqlite3_bind_blob(q, 1, blob, (int)len, SQLITE_TRANSIENT) != SQLITE_OK ||
                sqlite3_bind_int(q, 2, spec->priority) != SQLITE_OK || sqlite3_bind_double(q, 3, now) != SQLITE_OK ||
                sqlite3_step(q) != SQLITE_DONE))
        st = db_fail(s, err, "inserting a job");
    sqlite3_finalize(q);
    free(blob);
    uint64_t id = st ? 0 : (uint64_t)sqlite3_last_insert_rowid(s->db);
    for (size_t i = 0; !st && i < n; i++) {
        sqlite3_stmt *c = s->st_add_chunk;
        sqlite3_reset(c);
        sqlite3_bind_int64(c, 1, (sqlite3_int64)id);
        sqlite3_bind_int64(c, 2, (sqlite3_int64)i);
        sqlite3_bind_int64(c, 3, w[i].item);
        sqlite3_bind_int(c, 4, w[i].lat_start);
        sqlite3_bind_int(c, 5, w[i].lat_count);
        if (sqlite3_step(c) != SQLITE_DONE) st = db_fail(s, err, "inserting a chunk");
    }
    if (!outer) {
        if (st) exec(s, "ROLLBACK;", NULL);
        else st = exec(s, "COMMIT;", err);
    }
    if (!st) *job_id = id;
    return st;
}

ff_status ff_store_job_state(ff_store *s, uint64_t job, ff_cstate state, const char *error, double now, ff_err *err) {
    sqlite3_stmt *q = s->st_job_state;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)job);
    sqlite3_bind_text(q, 2, ff_cstate_name(state), -1, SQLITE_STATIC);
    if (error) sqlite3_bind_text(q, 3, error, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(q, 3);
    if (state >= FF_CS_DONE) sqlite3_bind_double(q, 4, now);
    else sqlite3_bind_null(q, 4);
    if (sqlite3_step(q) != SQLITE_DONE) return db_fail(s, err, "updating a job");
    return FF_OK;
}

ff_status ff_store_chunk_update(ff_store *s, uint64_t job, uint32_t idx, const ff_store_chunk_row *row,
                                const char *log_append, ff_err *err) {
    sqlite3_stmt *q = s->st_chunk_update;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)job);
    sqlite3_bind_int64(q, 2, idx);
    sqlite3_bind_text(q, 3, ff_cstate_name(row->state), -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, row->attempts);
    sqlite3_bind_int(q, 5, row->dispatches);
    sqlite3_bind_int(q, 6, row->completions);
    if (row->worker) sqlite3_bind_text(q, 7, row->worker, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(q, 7);
    if (log_append) sqlite3_bind_text(q, 8, log_append, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(q, 8);
    sqlite3_bind_int64(q, 9, (sqlite3_int64)row->task);
    sqlite3_bind_double(q, 10, row->started_at);
    sqlite3_bind_double(q, 11, row->finished_at);
    if (sqlite3_step(q) != SQLITE_DONE) return db_fail(s, err, "updating a chunk");
    return FF_OK;
}

ff_status ff_store_load(ff_store *s, ff_store_job_fn on_job, ff_store_chunk_fn on_chunk, void *user, ff_err *err) {
    sqlite3_stmt *jq = NULL, *cq = NULL;
    ff_status st = FF_OK;
    sqlite3_stmt *oq = NULL;
    uint32_t *written = NULL;
    size_t cap_written = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT id, spec, state, submitted_at, error, finished_at, paused FROM jobs ORDER BY id",
                           -1, &jq, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT idx, item, lat_start, lat_count, state, attempts, dispatches, completions, worker, log,"
                           " task, started_at, finished_at FROM chunks WHERE job_id=? ORDER BY idx",
                           -1, &cq, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT item FROM outputs WHERE job_id=? ORDER BY item", -1, &oq, NULL) != SQLITE_OK) {
        st = db_fail(s, err, "loading");
        goto done;
    }
    int rc;
    while (!st && (rc = sqlite3_step(jq)) == SQLITE_ROW) {
        ff_store_job_info j = {0};
        j.id = (uint64_t)sqlite3_column_int64(jq, 0);
        const void *blob = sqlite3_column_blob(jq, 1);
        int blen = sqlite3_column_bytes(jq, 1);
        Ff__JobSpec *spec = blob ? ff__job_spec__unpack(NULL, (size_t)blen, blob) : NULL;
        ff_err ce = {0};
        if (!spec) {
            st = ff_err_set(err, FF_ERR_FORMAT, "%s/state.db: job %llu has an unreadable spec", s->dir,
                            (unsigned long long)j.id);
            break;
        }
        if (ff_jobspec_check(spec, &ce)) j.spec_error = ce.msg;
        j.spec = spec;
        if (ff_cstate_parse((const char *)sqlite3_column_text(jq, 2), &j.state))
            st = ff_err_set(err, FF_ERR_FORMAT, "%s/state.db: job %llu has an unknown state", s->dir, (unsigned long long)j.id);
        j.submitted_at = sqlite3_column_double(jq, 3);
        j.error = (const char *)sqlite3_column_text(jq, 4);
        j.finished_at = sqlite3_column_type(jq, 5) == SQLITE_NULL ? 0 : sqlite3_column_double(jq, 5);
        j.paused = sqlite3_column_int(jq, 6);
        sqlite3_reset(oq);
        sqlite3_bind_int64(oq, 1, (sqlite3_int64)j.id);
        while (!st && sqlite3_step(oq) == SQLITE_ROW) {
            if (j.n_written == cap_written) {
                size_t cap = cap_written ? cap_written * 2 : 64;
                uint32_t *n = realloc(written, cap * sizeof *n);
                if (!n) {
                    st = ff_err_set(err, FF_ERR_NOMEM, "loading outputs: out of memory");
                    break;
                }
                written = n;
                cap_written = cap;
            }
            written[j.n_written++] = (uint32_t)sqlite3_column_int64(oq, 0);
        }
        j.written = written;
        if (!st) st = on_job(user, &j, err);
        ff_jobspec_free(spec);
        sqlite3_reset(cq);
        sqlite3_bind_int64(cq, 1, (sqlite3_int64)j.id);
        while (!st && (rc = sqlite3_step(cq)) == SQLITE_ROW) {
            ff_store_chunk_info c = {0};
            c.job = j.id;
            c.idx = (uint32_t)sqlite3_column_int64(cq, 0);
            c.item = (uint32_t)sqlite3_column_int64(cq, 1);
            c.lat_start = sqlite3_column_int(cq, 2);
            c.lat_count = sqlite3_column_int(cq, 3);
            if (ff_cstate_parse((const char *)sqlite3_column_text(cq, 4), &c.row.state)) {
                st = ff_err_set(err, FF_ERR_FORMAT, "%s/state.db: chunk %u of job %llu has an unknown state", s->dir,
                                c.idx, (unsigned long long)j.id);
                break;
            }
            c.row.attempts = sqlite3_column_int(cq, 5);
            c.row.dispatches = sqlite3_column_int(cq, 6);
            c.row.completions = sqlite3_column_int(cq, 7);
            c.row.worker = (const char *)sqlite3_column_text(cq, 8);
            c.log = (const char *)sqlite3_column_text(cq, 9);
            c.row.task = (uint64_t)sqlite3_column_int64(cq, 10);
            c.row.started_at = sqlite3_column_double(cq, 11);
            c.row.finished_at = sqlite3_column_double(cq, 12);
            st = on_chunk(user, &c, err);
        }
        if (!st && rc != SQLITE_DONE && rc != SQLITE_ROW) st = db_fail(s, err, "loading chunks");
    }
done:
    sqlite3_finalize(jq);
    sqlite3_finalize(cq);
    sqlite3_finalize(oq);
    free(written);
    return st;
}

ff_status ff_store_chunk_path(const ff_store *s, uint64_t job, uint32_t idx, const char *suffix, char *buf, size_t n,
                              ff_err *err) {
    int w = snprintf(buf, n, "%s/chunks/%llu", s->dir, (unsigned long long)job);
    if (w < 0 || (size_t)w >= n) return ff_err_set(err, FF_ERR_ARG, "chunk path too long in %s", s->dir);
    if (mkdir(buf, 0755) && errno != EEXIST) return ff_err_set(err, FF_ERR_IO, "mkdir %s: %s", buf, strerror(errno));
    w = snprintf(buf, n, "%s/chunks/%llu/%u%s", s->dir, (unsigned long long)job, idx, suffix);
    if (w < 0 || (size_t)w >= n) return ff_err_set(err, FF_ERR_ARG, "chunk path too long in %s", s->dir);
    return FF_OK;
}

void ff_store_drop_chunk_files(const ff_store *s, uint64_t job) {
    char dir[4200], path[4500];
    snprintf(dir, sizeof dir, "%s/chunks/%llu", s->dir, (unsigned long long)job);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

ff_status ff_store_delete_job(ff_store *s, uint64_t job, ff_err *err) {
    sqlite3_stmt *qs[3] = {s->st_del_chunks, s->st_del_outputs, s->st_del_job};
    for (int i = 0; i < 3; i++) {
        sqlite3_reset(qs[i]);
        sqlite3_bind_int64(qs[i], 1, (sqlite3_int64)job);
        if (sqlite3_step(qs[i]) != SQLITE_DONE) return db_fail(s, err, "deleting a job");
    }
    ff_store_drop_chunk_files(s, job);
    return FF_OK;
}

ff_status ff_store_output_written(ff_store *s, uint64_t job, uint32_t item, double now, ff_err *err) {
    sqlite3_stmt *q = s->st_output;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)job);
    sqlite3_bind_int64(q, 2, item);
    sqlite3_bind_double(q, 3, now);
    if (sqlite3_step(q) != SQLITE_DONE) return db_fail(s, err, "recording a written output");
    return FF_OK;
}

ff_status ff_store_job_paused(ff_store *s, uint64_t job, int paused, ff_err *err) {
    sqlite3_stmt *q = s->st_job_paused;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)job);
    sqlite3_bind_int(q, 2, paused ? 1 : 0);
    if (sqlite3_step(q) != SQLITE_DONE) return db_fail(s, err, "pausing a job");
    return FF_OK;
}

ff_status ff_store_job_spec(ff_store *s, uint64_t job, const Ff__JobSpec *spec, ff_err *err) {
    size_t len = ff__job_spec__get_packed_size(spec);
    uint8_t *blob = malloc(len ? len : 1);
    if (!blob) return ff_err_set(err, FF_ERR_NOMEM, "storing a job: out of memory");
    ff__job_spec__pack(spec, blob);
    sqlite3_stmt *q = s->st_job_spec;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)job);
    sqlite3_bind_blob(q, 2, blob, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 3, spec->priority);
    int rc = sqlite3_step(q);
    free(blob);
    if (rc != SQLITE_DONE) return db_fail(s, err, "updating a job's spec");
    return FF_OK;
}
