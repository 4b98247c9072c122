"""Reads a cgan run with the real TensorBoard reader and asserts what a user will see.

Usage: check_tensorboard.py RUN_DIR EXPECTED_STEPS...   (the summary steps, in order)
Exits non-zero with one line per failed expectation.
"""
import io
import os
import tomllib
import struct
import sys
import zlib

from tensorboard.backend.event_processing import event_accumulator as ea

SCALARS = [
    "loss/generator", "loss/discriminator", "loss/d_real_right", "loss/d_real_wrong", "loss/d_fake",
    "probabilities/p_real_right", "probabilities/p_real_wrong", "probabilities/p_fake", "perf/steps_per_second",
]
IMAGES = ["samples/all", "real/batch"] + [f"samples/digit_{d}" for d in range(10)]
# A LAPGAN run (`[model] kind = "lapgan"` in its config.toml, `model = "lapgan"` before
# the [model] table): every level's curves and samples.
LAPGAN_SCALARS = [f"loss/level_{s}/{n}" for s in (7, 14, 28) for n in ("generator", "discriminator")] + [
    f"probabilities/level_{s}/{p}" for s in (7, 14, 28) for p in ("p_real", "p_real_wrong", "p_fake")
] + ["perf/steps_per_second"]
LAPGAN_IMAGES = IMAGES + ["samples/level_7", "samples/level_14"]
EVAL = ["eval/conditional_accuracy", "eval/mnist_score", "eval/frechet_distance", "eval/frechet_distance_real_floor",
        "eval/diversity_ratio", "eval/collapse_alarm"] + [f"eval/conditional_accuracy_digit_{d}" for d in range(10)]


def decode_png(data):
    """Minimal PNG check: signature, IHDR size, and that IDAT inflates to the raw size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == h * (1 + 3 * w), f"PNG body {len(raw)} bytes for {w}x{h} RGB"
    return w, h


def main():
    run, steps = sys.argv[1], [int(s) for s in sys.argv[2:]]
    with open(os.path.join(run, "config.toml"), "rb") as f:
        model = tomllib.load(f).get("model")
    lapgan = "lapgan" in (model, model.get("kind") if isinstance(model, dict) else None)
    scalars, images = (LAPGAN_SCALARS, LAPGAN_IMAGES) if lapgan else (SCALARS, IMAGES)
    acc = ea.EventAccumulator(run, size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0, ea.HISTOGRAMS: 0})
    acc.Reload()
    tags = acc.Tags()
    errors = []
    for tag in scalars:
        if tag not in tags["scalars"]:
            errors.append(f"missing scalar {tag}")
            continue
        got = [e.step for e in acc.Scalars(tag)]
        if got != steps:
            errors.append(f"{tag}: steps {got}, expected {steps}")
    for tag in EVAL:
        if tag not in tags["scalars"]:
            errors.append(f"missing eval scalar {tag}")
        elif [e.step for e in acc.Scalars(tag)] != steps:
            errors.append(f"{tag}: steps {[e.step for e in acc.Scalars(tag)]}, expected {steps}")
    for tag in images:
        if tag not in tags["images"]:
            errors.append(f"missing image {tag}")
            continue
        evs = acc.Images(tag)
        if [e.step for e in evs] != steps:
            errors.append(f"{tag}: steps {[e.step for e in evs]}, expected {steps}")
        for e in evs:
            w, h = decode_png(e.encoded_image_string)
            if (w, h) != (e.width, e.height):
                errors.append(f"{tag}: PNG {w}x{h} (width x height) but the event says {e.width}x{e.height}")
    # samples/all is 10 digits wide and sample_rows (8) high: non-square, so a swapped
    # width and height cannot pass unnoticed.
    if "samples/all" in tags["images"]:
        e = acc.Images("samples/all")[-1]
        if (e.width, e.height) != (10 * 30 + 2, 8 * 30 + 2):
            errors.append(f"samples/all: {e.width}x{e.height}, expected 302x242 (10 columns, 8 rows)")
    if "config" not in tags["tensors"]:
        errors.append("missing text summary 'config'")
    else:
        text = acc.Tensors("config")[0].tensor_proto.string_val[0].decode()
        if "batch_size" not in text:
            errors.append("config text lacks batch_size")
    if not any(t.startswith("weights/generator/") for t in tags["histograms"]):
        errors.append("no weight histograms")
    for line in errors:
        print(f"check_tensorboard: {run}: {line}")
    if errors:
        sys.exit(1)
    print(f"check_tensorboard: {run}: {len(scalars) + len(EVAL)} scalars, {len(images)} images, config text, "
          f"{len(tags['histograms'])} histograms; steps {steps}: ok")


if __name__ == "__main__":
    main()
