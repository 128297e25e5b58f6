#!/bin/sh
# The text-side golden groups of CogVideoX and HunyuanVideo (t5_tokenizer,
# t5_encoder, llama_tokenizer, llama_encoder, clip_tokenizer, hunyuan_text), selected by
# group with --filter: every public case PASSes on this backend, none is
# skipped.
set -u
ff="$1"; golden="$2"
[ -d "$golden/cases" ] || { echo "SKIP: $golden absent"; exit 77; }
ls "$golden/cases" | grep -q '^cogvideox_tokenizer_prompts$' || { echo "SKIP: no CogVideoX cases in $golden"; exit 77; }
for g in ^t5_tokenizer ^t5_encoder ^llama_tokenizer ^llama_encoder ^clip_tokenizer ^hunyuan_text; do
    out=$("$ff" golden --filter "$g" "$golden"); rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] || { echo "$g: exit $rc"; exit 1; }
    echo "$out" | tail -n 1 | grep -qE "^[1-9][0-9]* passed, 0 failed, 0 skipped" || { echo "$g: bad summary"; exit 1; }
done
echo "ok"
