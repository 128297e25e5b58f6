/* ff_st: reading and writing .safetensors files, bounds-checked.
 *
 * Format (see shared/golden/README.md section 2): u64 little-endian N | N
 * bytes of JSON header | raw little-endian row-major data. The header maps
 * tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the first data byte) plus an optional "__metadata__" object of
 * strings.
 *
 * ff_st_open maps the whole file read-only (mmap PROT_READ, MAP_PRIVATE) and
 * validates every header entry before returning: the dtype is one we read
 * (F32 F16 BF16 I32 I64; other safetensors dtypes are named and rejected as
 * unsupported), the shape has at most FF_MAX_DIMS non-negative dims whose
 * byte size does not overflow, end - begin equals that byte size, every span
 * lies inside the data section and no two non-empty spans overlap, no name
 * appears twice. After a successful open every entry's bytes lie inside the
 * mapping, so nothing built from an entry reads outside the file. Every
 * failure is an error naming the file (and the tensor when there is one);
 * hostile files never crash the reader. Gaps between spans and trailing bytes
 * after the last one are tolerated (the reference reader rejects them).
 *
 * Not handled here: finding files in a model folder or sharded checkpoints
 * (ff_model_dir.h), device placement (offload/), any math. A file truncated
 * by another process while it is mapped can still raise SIGBUS; files are
 * assumed immutable while open. Big-endian hosts are not supported.
 *
 * Ownership: an ff_st_file owns its mapping, its parsed header and its entry
 * table; every pointer it hands out (names, entries, metadata strings, views)
 * stays valid until ff_st_close. ff_st_load returns an owned tensor the
 * caller frees with ff_tensor_free. One ff_st_file may be read from several
 * threads at once (nothing is mutated after open). */
#ifndef FF_SAFETENSORS_H
#define FF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "ff_err.h"
#include "ff_tensor.h"

/* Largest header accepted (the reference implementation's limit is 100 MB). */
#define FF_ST_MAX_HEADER ((uint64_t)100 << 20)

typedef struct ff_st_file ff_st_file; /* an open, validated, mmap'd .safetensors file */

typedef struct {
    const char *name;             /* tensor name, owned by the file */
    ff_dtype dtype;
    int ndim;                     /* 0 = scalar */
    int64_t shape[FF_MAX_DIMS];   /* unused trailing entries are 1 (as in ff_tensor) */
    uint64_t offset;              /* absolute file offset of the first data byte */
    uint64_t nbytes;              /* numel * itemsize; 0 for zero-size tensors */
} ff_st_entry;

/* Maps and validates path. On success *out owns the mapping (close with
 * ff_st_close). FF_ERR_NOT_FOUND when the file does not exist, FF_ERR_IO when
 * it cannot be opened or mapped, FF_ERR_FORMAT for a malformed file,
 * FF_ERR_UNSUPPORTED for a dtype we do not read, FF_ERR_SHAPE for a shape
 * that overflows; *out is NULL on failure. */
ff_status ff_st_open(const char *path, ff_st_file **out, ff_err *err);
/* Unmaps and frees everything the file handed out. NULL is a no-op. */
void ff_st_close(ff_st_file *f);

/* The path given to ff_st_open (owned by f). */
const char *ff_st_path(const ff_st_file *f);
/* Number of tensors (__metadata__ is not a tensor). */
size_t ff_st_count(const ff_st_file *f);
/* Entries sorted by name (strcmp byte order); NULL when i >= count. */
const ff_st_entry *ff_st_entry_at(const ff_st_file *f, size_t i);
/* NULL when absent (binary search). */
const ff_st_entry *ff_st_find(const ff_st_file *f, const char *name);
/* __metadata__ string value for key; NULL if absent or there is no metadata. */
const char *ff_st_metadata(const ff_st_file *f, const char *key);
/* Read-only pointer to an entry's first data byte inside the mapping (any
 * alignment; e must come from f). For byte copies, e.g. into pinned memory. */
const void *ff_st_entry_data(const ff_st_file *f, const ff_st_entry *e);

/* Borrowed read-only view into the mapping (valid until ff_st_close; writing
 * through out->data faults). FF_ERR_NOT_FOUND naming file and tensor if
 * absent; FF_ERR_FORMAT if the data is not aligned for its dtype (files
 * written by other tools may store I64 after an odd number of 4-byte
 * elements: use ff_st_load for those). Zero-size tensors are always viewable. */
ff_status ff_st_view(const ff_st_file *f, const char *name, ff_tensor *out, ff_err *err);

/* Owned host copy converted to dtype `as`: F32 from F32/F16/BF16, or the
 * stored dtype (exact copy). Works for any alignment. FF_ERR_NOT_FOUND naming
 * file and tensor if absent; FF_ERR_UNSUPPORTED for other conversions;
 * out is zeroed on failure. */
ff_status ff_st_load(const ff_st_file *f, const char *name, ff_dtype as, ff_tensor *out, ff_err *err);

/* Writer. Items: name + host tensor (not owned; any order, names unique and
 * not "__metadata__"). Tensors are stored in sorted-name order, contiguous
 * from data offset 0; the header is padded with spaces so that 8 + N is a
 * multiple of 8. Optional string metadata: n_meta key/value PAIRS, meta[2i]
 * the key and meta[2i+1] the value (so meta holds 2*n_meta strings; keys
 * unique). Writes path + ".tmp", fsyncs, then renames over path, so path never
 * holds a half-written file (two writers of the same path at once are not
 * supported). FF_ERR_ARG for bad items, FF_ERR_IO naming the path on I/O
 * errors. */
typedef struct {
    const char *name;
    const ff_tensor *tensor;
} ff_st_item;
ff_status ff_st_write(const char *path, const ff_st_item *items, size_t n, const char *const *meta, size_t n_meta,
                      ff_err *err);

#endif
