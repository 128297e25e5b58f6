/* A strict reader of the Prometheus text exposition format (0.0.4) for the
 * farm tests (header-only): every line is a "# HELP name text", a
 * "# TYPE name counter|gauge|histogram|summary|untyped", or a sample
 * "name{label="value",...} value"; names and label names are checked,
 * label values unescaped, values parsed (+Inf, -Inf, NaN too). A sample
 * must follow its family's TYPE (histograms: name_bucket/_sum/_count, every
 * bucket with an "le" label, cumulative, the last "+Inf" equal to _count);
 * a family is declared once. pt_parse returns the number of samples, or -1
 * with the reason in why. pt_value looks a sample up by name and labels. */
#ifndef FF_PROM_TEXT_H
#define FF_PROM_TEXT_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PT_MAX_SAMPLES 4096
#define PT_MAX_FAMILIES 256

typedef struct {
    char name[128];
    char labels[512]; /* "k=v,k=v" as read (values unescaped) */
    double value;
} pt_sample;

typedef struct {
    pt_sample s[PT_MAX_SAMPLES];
    int n;
    char fam[PT_MAX_FAMILIES][128], type[PT_MAX_FAMILIES][16];
    int nfam;
} pt_doc;

static inline int pt_name_ok(const char *s, size_t n, int colon) {
    if (!n) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') || (i && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

static inline int pt_family_of(const pt_doc *d, const char *name, const char **type) {
    for (int i = 0; i < d->nfam; i++) {
        size_t l = strlen(d->fam[i]);
        if (!strcmp(name, d->fam[i])) {
            *type = d->type[i];
            return i;
        }
        if (!strcmp(d->type[i], "histogram") && !strncmp(name, d->fam[i], l) &&
            (!strcmp(name + l, "_bucket") || !strcmp(name + l, "_sum") || !strcmp(name + l, "_count"))) {
            *type = d->type[i];
            return i;
        }
    }
    return -1;
}

static inline int pt_parse(const char *text, pt_doc *d, char *why, size_t why_n) {
    memset(d, 0, sizeof *d);
    int line_no = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        if (!e) {
            snprintf(why, why_n, "line %d: no newline at the end", line_no + 1);
            return -1;
        }
        char line[2048];
        size_t l = (size_t)(e - p);
        line_no++;
        if (l >= sizeof line) {
            snprintf(why, why_n, "line %d: too long", line_no);
            return -1;
        }
        memcpy(line, p, l);
        line[l] = 0;
        p = e + 1;
        if (!l) continue;
        if (line[0] == '#') {
            char kw[8], name[128];
            int off = 0;
            if (sscanf(line, "# %7s %127s %n", kw, name, &off) < 2) continue; /* a plain comment */
            if (!strcmp(kw, "HELP") || !strcmp(kw, "TYPE")) {
                if (!pt_name_ok(name, strlen(name), 1)) {
                    snprintf(why, why_n, "line %d: bad metric name '%s'", line_no, name);
                    return -1;
                }
            }
            if (!strcmp(kw, "TYPE")) {
                const char *t = line + off;
                if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram") && strcmp(t, "summary") &&
                    strcmp(t, "untyped")) {
                    snprintf(why, why_n, "line %d: bad type '%s'", line_no, t);
                    return -1;
                }
                for (int i = 0; i < d->nfam; i++)
                    if (!strcmp(d->fam[i], name)) {
                        snprintf(why, why_n, "line %d: family %s declared twice", line_no, name);
                        return -1;
                    }
                if (d->nfam == PT_MAX_FAMILIES) return -1;
                snprintf(d->fam[d->nfam], sizeof d->fam[0], "%s", name);
                snprintf(d->type[d->nfam++], sizeof d->type[0], "%s", t);
            }
            continue;
        }
        if (d->n == PT_MAX_SAMPLES) {
            snprintf(why, why_n, "too many samples");
            return -1;
        }
        pt_sample *s = &d->s[d->n];
        const char *q = line;
        size_t nl = strcspn(q, "{ ");
        if (nl >= sizeof s->name || !pt_name_ok(q, nl, 1)) {
            snprintf(why, why_n, "line %d: bad metric name", line_no);
            return -1;
        }
        memcpy(s->name, q, nl);
        s->name[nl] = 0;
        q += nl;
        size_t lo = 0;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                size_t kn = strcspn(q, "=");
                if (!pt_name_ok(q, kn, 0) || q[kn] != '=' || q[kn + 1] != '"') {
                    snprintf(why, why_n, "line %d: bad label", line_no);
                    return -1;
                }
                if (lo) s->labels[lo++] = ',';
                if (lo + kn + 2 >= sizeof s->labels) return -1;
                memcpy(s->labels + lo, q, kn + 1);
                lo += kn + 1;
                q += kn + 2;
                while (*q != '"') {
                    if (!*q) {
                        snprintf(why, why_n, "line %d: unterminated label value", line_no);
                        return -1;
                    }
                    char c = *q++;
                    if (c == '\\') {
                        c = *q++;
                        if (c == 'n') c = '\n';
                        else if (c != '\\' && c != '"') {
                            snprintf(why, why_n, "line %d: bad escape in a label value", line_no);
                            return -1;
                        }
                    }
                    if (lo + 2 >= sizeof s->labels) return -1;
                    s->labels[lo++] = c;
                }
                q++;
                if (*q == ',') q++;
                else if (*q != '}') {
                    snprintf(why, why_n, "line %d: expected , or } after a label", line_no);
                    return -1;
                }
            }
            q++;
        }
        s->labels[lo] = 0;
        if (*q != ' ') {
            snprintf(why, why_n, "line %d: no value", line_no);
            return -1;
        }
        q++;
        char *end;
        if (!strncmp(q, "+Inf", 4)) s->value = INFINITY, end = (char *)q + 4;
        else if (!strncmp(q, "-Inf", 4)) s->value = -INFINITY, end = (char *)q + 4;
        else if (!strncmp(q, "NaN", 3)) s->value = NAN, end = (char *)q + 3;
        else s->value = strtod(q, &end);
        if (end == q || (*end && *end != ' ')) {
            snprintf(why, why_n, "line %d: bad value '%s'", line_no, q);
            return -1;
        }
        const char *type = NULL;
        if (pt_family_of(d, s->name, &type) < 0) {
            snprintf(why, why_n, "line %d: sample %s before (or without) its # TYPE", line_no, s->name);
            return -1;
        }
        if (!strcmp(type, "counter") && (s->value < 0 || isnan(s->value))) {
            snprintf(why, why_n, "line %d: counter %s is %g", line_no, s->name, s->value);
            return -1;
        }
        d->n++;
    }
    /* histograms: buckets with le, cumulative, +Inf = _count */
    for (int f = 0; f < d->nfam; f++) {
        if (strcmp(d->type[f], "histogram")) continue;
        char bname[140], cname[140];
        snprintf(bname, sizeof bname, "%s_bucket", d->fam[f]);
        snprintf(cname, sizeof cname, "%s_count", d->fam[f]);
        double prev = -1, inf = -1, count = -2;
        for (int i = 0; i < d->n; i++) {
            if (!strcmp(d->s[i].name, cname)) count = d->s[i].value;
            if (strcmp(d->s[i].name, bname)) continue;
            const char *le = strstr(d->s[i].labels, "le=");
            if (!le) {
                snprintf(why, why_n, "%s without le", bname);
                return -1;
            }
            if (d->s[i].value < prev) {
                snprintf(why, why_n, "%s is not cumulative", bname);
                return -1;
            }
            prev = d->s[i].value;
            if (!strcmp(le + 3, "+Inf")) inf = d->s[i].value;
        }
        if (inf != count) {
            snprintf(why, why_n, "%s: the +Inf bucket (%g) is not _count (%g)", d->fam[f], inf, count);
            return -1;
        }
    }
    return d->n;
}

/* The value of sample name{labels} (labels exactly as "k=v,k=v"; "" for none); NAN when absent. */
static inline double pt_value(const pt_doc *d, const char *name, const char *labels) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->s[i].name, name) && !strcmp(d->s[i].labels, labels)) return d->s[i].value;
    return NAN;
}

/* How many samples are called name. */
static inline int pt_count(const pt_doc *d, const char *name) {
    int n = 0;
    for (int i = 0; i < d->n; i++) n += !strcmp(d->s[i].name, name);
    return n;
}

#endif
