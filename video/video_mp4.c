/* video_mp4: H.264 in MP4 through libavcodec / libavformat / libswscale.
 *
 * Compiled for real only with FF_HAVE_FFMPEG (set by CMake when the farm
 * build found FFmpeg); otherwise opening an MP4 writer fails with
 * FF_ERR_UNSUPPORTED. libx264 is preferred (crf, preset); another H.264
 * encoder is used without them if libx264 is absent. Frames are converted
 * RGB24 -> yuv420p BT.709 limited range by swscale and tagged as such.
 * FFmpeg's own log lines are pushed below any log level through the codec
 * context's log_level_offset (no process-wide av_log setting is touched). */
#include "video/video_impl.h"

#ifndef FF_HAVE_FFMPEG

int ff_video_mp4_available(void) { return 0; }

ff_status ff_video_mp4_open(ff_video_writer *w, ff_err *err) {
    return ff_err_set(err, FF_ERR_UNSUPPORTED, "mp4 %s: built without FFmpeg (use .y4m or a PNG folder)", w->path);
}

#else

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    AVFormatContext *fmt;
    AVCodecContext *ctx;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    int header_written;
    int64_t pts;
} mp4_state;

int ff_video_mp4_available(void) { return 1; }

static ff_status av_fail(ff_err *err, const char *what, int code) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(code, buf, sizeof buf);
    return ff_err_set(err, FF_ERR_IO, "%s: %s", what, buf);
}

static void mp4_free(mp4_state *s) {
    if (!s) return;
    if (s->fmt && s->fmt->pb) avio_closep(&s->fmt->pb);
    avformat_free_context(s->fmt);
    avcodec_free_context(&s->ctx);
    av_frame_free(&s->frame);
    av_packet_free(&s->pkt);
    sws_freeContext(s->sws);
    free(s);
}

/* Sends frame (NULL = flush) and writes every packet the encoder returns. */
static ff_status encode(mp4_state *s, AVFrame *frame, ff_err *err) {
    int r = avcodec_send_frame(s->ctx, frame);
    if (r < 0) return av_fail(err, "avcodec_send_frame", r);
    for (;;) {
        r = avcodec_receive_packet(s->ctx, s->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return FF_OK;
        if (r < 0) return av_fail(err, "avcodec_receive_packet", r);
        av_packet_rescale_ts(s->pkt, s->ctx->time_base, s->st->time_base);
        s->pkt->stream_index = s->st->index;
        r = av_interleaved_write_frame(s->fmt, s->pkt); /* takes the packet's reference */
        if (r < 0) return av_fail(err, "av_interleaved_write_frame", r);
    }
}

static ff_status mp4_write(ff_video_writer *w, const uint8_t *rgb, ff_err *err) {
    mp4_state *s = w->impl;
    int r = av_frame_make_writable(s->frame);
    if (r < 0) return av_fail(err, "av_frame_make_writable", r);
    const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
    int stride[4] = {w->o.width * 3, 0, 0, 0};
    sws_scale(s->sws, src, stride, 0, w->o.height, s->frame->data, s->frame->linesize);
    s->frame->pts = s->pts++;
    return encode(s, s->frame, err);
}

static ff_status mp4_close(ff_video_writer *w, ff_err *err) {
    mp4_state *s = w->impl;
    ff_status st = encode(s, NULL, err);
    if (!st && s->header_written) {
        int r = av_write_trailer(s->fmt);
        if (r < 0) st = av_fail(err, "av_write_trailer", r);
    }
    if (s->fmt->pb) {
        int r = avio_closep(&s->fmt->pb);
        if (r < 0 && !st) st = av_fail(err, "avio_close", r);
    }
    mp4_free(s);
    w->impl = NULL;
    return st;
}

static const ff_video_ops mp4_ops = {mp4_write, mp4_close};

ff_status ff_video_mp4_open(ff_video_writer *w, ff_err *err) {
    const int W = w->o.width, H = w->o.height;
    if (W % 2 || H % 2)
        return ff_err_set(err, FF_ERR_ARG, "mp4 %s: H.264 yuv420p needs an even frame size, got %dx%d", w->path, W, H);
    mp4_state *s = calloc(1, sizeof *s);
    if (!s) return ff_err_set(err, FF_ERR_NOMEM, "mp4 %s: cannot allocate", w->path);
    ff_status st = FF_OK;
    int r;
    char what[64];

    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    int x264 = codec != NULL;
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_H264);
    if (!codec) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "this FFmpeg has no H.264 encoder");
        goto fail;
    }
    r = avformat_alloc_output_context2(&s->fmt, NULL, "mp4", w->path);
    if (r < 0 || !s->fmt) {
        st = av_fail(err, "avformat_alloc_output_context2", r < 0 ? r : AVERROR(ENOMEM));
        goto fail;
    }
    s->st = avformat_new_stream(s->fmt, NULL);
    s->ctx = avcodec_alloc_context3(codec);
    s->frame = av_frame_alloc();
    s->pkt = av_packet_alloc();
    if (!s->st || !s->ctx || !s->frame || !s->pkt) {
        st = ff_err_set(err, FF_ERR_NOMEM, "cannot allocate the encoder");
        goto fail;
    }
    AVCodecContext *c = s->ctx;
    c->log_level_offset = AV_LOG_TRACE * 2; /* silence: errors come back as ff_err */
    c->width = W;
    c->height = H;
    c->time_base = (AVRational){w->o.fps_den, w->o.fps_num};
    c->framerate = (AVRational){w->o.fps_num, w->o.fps_den};
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->color_range = AVCOL_RANGE_MPEG;
    c->colorspace = AVCOL_SPC_BT709;
    c->color_primaries = AVCOL_PRI_BT709;
    c->color_trc = AVCOL_TRC_BT709;
    if (s->fmt->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (x264) {
        char crf[16];
        snprintf(crf, sizeof crf, "%d", w->o.crf);
        if ((r = av_opt_set(c->priv_data, "crf", crf, 0)) < 0 ||
            (r = av_opt_set(c->priv_data, "preset", w->o.preset ? w->o.preset : "medium", 0)) < 0) {
            st = ff_err_set(err, FF_ERR_ARG, "x264 rejects crf=%d preset=%s", w->o.crf,
                            w->o.preset ? w->o.preset : "medium");
            goto fail;
        }
    }
    if ((r = avcodec_open2(c, codec, NULL)) < 0) {
        snprintf(what, sizeof what, "avcodec_open2(%s)", codec->name);
        st = av_fail(err, what, r);
        goto fail;
    }
    if ((r = avcodec_parameters_from_context(s->st->codecpar, c)) < 0) {
        st = av_fail(err, "avcodec_parameters_from_context", r);
        goto fail;
    }
    s->st->time_base = c->time_base;
    s->st->avg_frame_rate = c->framerate;
    s->frame->format = c->pix_fmt;
    s->frame->width = W;
    s->frame->height = H;
    if ((r = av_frame_get_buffer(s->frame, 0)) < 0) {
        st = av_fail(err, "av_frame_get_buffer", r);
        goto fail;
    }
    s->sws = sws_getContext(W, H, AV_PIX_FMT_RGB24, W, H, AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND, NULL,
                            NULL, NULL);
    if (!s->sws) {
        st = ff_err_set(err, FF_ERR_UNSUPPORTED, "swscale cannot convert RGB24 to yuv420p");
        goto fail;
    }
    const int *bt709 = sws_getCoefficients(SWS_CS_ITU709);
    sws_setColorspaceDetails(s->sws, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);
    if ((r = avio_open(&s->fmt->pb, w->path, AVIO_FLAG_WRITE)) < 0) { /* as the y4m and png writers say it */
        char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
        av_strerror(r, buf, sizeof buf);
        st = ff_err_set(err, r == AVERROR(ENOENT) ? FF_ERR_NOT_FOUND : FF_ERR_IO, "cannot create: %s", buf);
        goto fail;
    }
    if ((r = avformat_write_header(s->fmt, NULL)) < 0) {
        st = av_fail(err, "avformat_write_header", r);
        goto fail;
    }
    s->header_written = 1;
    w->impl = s;
    w->ops = &mp4_ops;
    return FF_OK;
fail:
    mp4_free(s);
    ff_err_wrap(err, "mp4 %s: ", w->path);
    return st;
}

#endif
