/* ff_jobspec (ff_jobspec_*): the job spec (ff.JobSpec) — reading it from a
 * job file, defaults, validation, and the per-item view workers and the
 * coordinator share.
 *
 * A job renders N items (videos): N = max(#prompts, #seeds), where a list of
 * length 1 is shared by every item; negative prompts: none, one shared, or
 * one per item. Each item's video has `frames` pixel frames (4k+1), i.e.
 * lat_total = (frames - 1) / 4 + 1 latent frames (the Wan VAE's temporal
 * factor 4; a worker refuses a model with another factor).
 *
 * Job file (JSON), every key optional except model, prompt(s), seed(s), output:
 *   {"model": "DIR", "prompt": "..." | "prompts": [...],
 *    "negative_prompt": "..." | "negative_prompts": [...],
 *    "seed": 42 | "seeds": [1, 2, 3],
 *    "width": 832, "height": 480, "frames": 81, "steps": 50,
 *    "guidance_scale": 5.0, "guidance_scale_2": 3.0,
 *    "scheduler": {"flow_shift": 3.0},          (overrides of scheduler_config.json)
 *    "output": "out.y4m" | "out.mp4" | "frames_dir/", "fps": 16,
 *    "chunking": {"frames": 81, "overlap": 8},   (frames 0: never cut)
 *    "vae": {"tiling": false, "tile_size": 0, "tile_stride": 0, "slicing": false},
 *      (size, frames, steps, guidance, fps and VAE tiling: absent, the model's
 *       "_framefarm_defaults" as `render` takes them, else the values shown;
 *       tile_size / tile_stride 0: the model's tiles, else 256 / 192)
 *    "dit_weights": "f32" | "bf16", "device_budget": BYTES,
 *    "priority": 0, "max_attempts": 3, "chunk_timeout_s": 0,
 *    "max_sequence_length": 512, "name": "..."}
 * Unknown keys are refused by name (a typo must not silently render the
 * defaults). There is no way to reach a worker's test modes from a job file.
 * The output follows the rule of every command (video/video.h:
 * ff_video_out_format), checked by the client and the coordinator, which
 * also holds it to its output roots (coordinator/outroot.h).
 * chunk_timeout_s: a running chunk whose worker reports no progress (a
 * denoising step, a decoded frame) for this long is taken back (one failed
 * attempt); 0 lets the coordinator derive it (coordinator/coord.h).
 *
 * Limits (refused by ff_jobspec_check, so by the client before sending, by
 * the coordinator at submit and by a worker receiving a task): at most
 * FF_JOBSPEC_MAX_ITEMS items; every prompt, negative prompt and the name
 * valid UTF-8 without NUL, a prompt at most FF_MAX_PROMPT_BYTES
 * (core/ff_limits.h), all of a job's prompt text at most
 * FF_JOBSPEC_MAX_TEXT bytes. An image field (image-to-video jobs, not
 * here yet) is read with video/image.h's ff_image_limits (file size, sides,
 * pixels) where its bytes arrive, before decoding.
 * The coordinator adds its own: chunks per job, chunks queued in all.
 *
 * Ownership: specs made here are heap trees freed by ff_jobspec_free (the
 * same layout protoc-c's unpack produces, so either can free either). */
#ifndef FF_JOBSPEC_H
#define FF_JOBSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_limits.h"
#include "core/ff_model_defaults.h"
#include "framefarm.pb-c.h"

#define FF_JOBSPEC_MAX_ITEMS 100000
#define FF_JOBSPEC_MAX_PROMPT FF_MAX_PROMPT_BYTES
#define FF_JOBSPEC_MAX_TEXT ((size_t)32 << 20) /* prompts + negative prompts of one job */
#define FF_JOBSPEC_LAT_T 4 /* VAE temporal factor of every Wan model */

/* Reads a job object; `what` names the source in messages. The result is
 * normalised. Relative paths are kept as written (the client resolves them).
 * Absent fields take the model folder's "_framefarm_defaults" exactly as
 * `render` does (ff_jobspec_model_defaults; the folder as written, relative
 * to the working directory), then the built-in defaults. */
ff_status ff_jobspec_from_json(const ff_json *root, const char *what, Ff__JobSpec **out, ff_err *err);
/* Fills absent fields from a model's defaults as `render` takes them: size,
 * frames, steps, guidance, fps, and VAE tiling on with the model's tiles
 * when it names them (core/ff_model_defaults.h). A spec that arrives over
 * the wire with fields absent gets ff_jobspec_normalize's built-ins. */
void ff_jobspec_model_defaults(Ff__JobSpec *s, const ff_model_defaults *d);
ff_status ff_jobspec_load_file(const char *path, Ff__JobSpec **out, ff_err *err);

/* Fills every absent field with its default and checks the result. */
ff_status ff_jobspec_normalize(Ff__JobSpec *s, ff_err *err);
/* Checks a normalised spec (every field present and in range). */
ff_status ff_jobspec_check(const Ff__JobSpec *s, ff_err *err);

void ff_jobspec_free(Ff__JobSpec *s);
/* Deep copy through pack/unpack. */
ff_status ff_jobspec_clone(const Ff__JobSpec *s, Ff__JobSpec **out, ff_err *err);

size_t ff_jobspec_items(const Ff__JobSpec *s);
/* Item i's prompt, negative prompt ("" when none) and seed. */
void ff_jobspec_item(const Ff__JobSpec *s, size_t i, const char **prompt, const char **negative, uint64_t *seed);
int ff_jobspec_lat_total(const Ff__JobSpec *s);
/* A window of n latent frames decodes to 1 + FF_JOBSPEC_LAT_T (n - 1) video
 * frames; latent frame i stands for video frame FF_JOBSPEC_LAT_T i. The
 * farm's unit: coordinator and worker cut and check windows with these. */
static inline int ff_jobspec_window_frames(int lat_count) { return 1 + FF_JOBSPEC_LAT_T * (lat_count - 1); }
static inline int ff_jobspec_window_first_frame(int lat_start) { return FF_JOBSPEC_LAT_T * lat_start; }
/* The resolved render settings of a normalised spec in one line, for
 * people: "128x128, 17 frames, 10 steps, guidance 5, 16 fps, VAE tiles
 * 64/48 px, f32" (status, submit). Returns buf. */
const char *ff_jobspec_settings(const Ff__JobSpec *s, char *buf, size_t n);
/* Item i's output path: the output itself for a one-item job, else
 * "<stem>_<iiii><ext>" ("out.y4m" -> "out_0002.y4m", "dir/" -> "dir_0002/"). */
ff_status ff_jobspec_item_output(const Ff__JobSpec *s, size_t i, char *buf, size_t n, ff_err *err);

#endif
