/* image_processor (ff_imgproc_*): the two image preprocessors of
 * image-to-video pipelines, on 8-bit RGB images (H, W, 3) as video/image.h
 * reads them (= numpy.array of a PIL RGB image):
 *
 *  - diffusers' VaeImageProcessor.preprocess for a PIL image (what
 *    WanImageToVideoPipeline.video_processor.preprocess(image, height, width)
 *    does before the VAE encode): height/width rounded down to multiples of
 *    vae_scale_factor, Image.resize((width, height), LANCZOS) (aspect ratio
 *    not kept, no crop; exact copy when the size matches), x = float32(u8) /
 *    255 (float32 division), x = 2x - 1 -> (1, 3, H, W) float32.
 *
 *  - transformers' CLIPImageProcessor (slow, numpy/PIL) as configured by
 *    image_processor/preprocessor_config.json: convert_rgb (no-op), resize
 *    (size.shortest_edge S: the short side to S, the long side to
 *    int(S * long / short) truncated; or size.height/width), center crop to
 *    crop_size (top = (h - ch) // 2, left = (w - cw) // 2, floor division;
 *    zero padding where the image is smaller, as transformers'
 *    center_crop), rescale float32(float64(u8) * rescale_factor), normalise
 *    (v - mean_c) / std_c in float32, HWC -> CHW, stacked over images.
 *    Each step can be switched off by its do_* flag, as in the config.
 *
 * Both resizes are models/pil_resample.h (Pillow bit for bit), so the
 * uint8 intermediates match Pillow exactly and the floats are exact
 * functions of them.
 *
 * Not here: reading files (video/image.h), the VAE or CLIP models. */
#ifndef FF_IMAGE_PROCESSOR_H
#define FF_IMAGE_PROCESSOR_H

#include "core/ff_err.h"
#include "core/ff_json.h"
#include "core/ff_tensor.h"

/* ---- VaeImageProcessor ------------------------------------------------- */

/* VaeImageProcessor.preprocess(image, height, width) (do_resize,
 * do_normalize, resample as given; diffusers' VideoProcessor default is
 * LANCZOS). img: host U8 (H0, W0, 3). *out: owned F32 (1, 3, h, w), with h,
 * w = height, width rounded down to multiples of vae_scale_factor (>= 1).
 * resized (may be NULL): the owned U8 (h, w, 3) image after the resize. */
ff_status ff_imgproc_vae_preprocess(const ff_tensor *img, int height, int width, int vae_scale_factor, int resample,
                                    ff_tensor *out, ff_tensor *resized, ff_err *err);

/* ---- CLIPImageProcessor ------------------------------------------------ */

typedef struct {
    int do_convert_rgb, do_resize, do_center_crop, do_rescale, do_normalize;
    int shortest_edge;           /* size.shortest_edge, or 0 when size is height/width */
    int size_h, size_w;          /* size.height / size.width (shortest_edge 0) */
    int crop_h, crop_w;          /* crop_size */
    int resample;                /* PIL filter number (3 = BICUBIC) */
    double rescale_factor;       /* 1/255 */
    float mean[3], std[3];       /* image_mean / image_std as float32 */
} ff_imgproc_clip_config;

/* Reads a preprocessor_config.json object; `what` names it in errors.
 * Missing keys take CLIPImageProcessor's defaults (224, bicubic, OpenAI CLIP
 * mean/std). image_processor_type other than CLIPImageProcessor (or its
 * Fast twin, same numbers) is FF_ERR_UNSUPPORTED. */
ff_status ff_imgproc_clip_config_parse(const ff_json *root, const char *what, ff_imgproc_clip_config *cfg,
                                       ff_err *err);
ff_status ff_imgproc_clip_config_load(const char *path, ff_imgproc_clip_config *cfg, ff_err *err);

/* The (h, w) the resize step produces for an (H, W) image (H, W when
 * do_resize is off). */
void ff_imgproc_clip_resize_size(const ff_imgproc_clip_config *cfg, int H, int W, int *out_h, int *out_w);

/* CLIPImageProcessor(images=[...]).pixel_values: n host U8 (Hi, Wi, 3)
 * images -> *pixel_values owned F32 (n, 3, crop_h, crop_w) (without center
 * crop: every image must resize to the same size). resized / cropped (may
 * be NULL): arrays of n owned U8 intermediates (the resize output; the crop
 * output), which the caller frees. */
ff_status ff_imgproc_clip_preprocess(const ff_imgproc_clip_config *cfg, const ff_tensor *images, int n,
                                     ff_tensor *pixel_values, ff_tensor *resized, ff_tensor *cropped, ff_err *err);

#endif
