#!/usr/bin/env bash
# The GPU check (docs/gpu.md), on a machine with an NVIDIA GPU and its driver.
#   From a bundle:  scripts/gpu-check.sh --bundle target/cuda-bundle
#                   (built on any x86-64 Linux by scripts/cuda-build.sh; this machine needs
#                   the driver and the CUDA 13 libraries, no Rust and no network)
#   Build here:     scripts/gpu-check.sh    (needs Rust, the CUDA toolkit and nvidia-smi)
# Stages, each under its own wall-clock cap, printing as they go; a failed stage is
# reported and the next one still runs; the exit status is the number of failed stages:
#   1. the device tests on the GPU (shapes of G and every D variant, training steps of each
#      preset against the CPU's fast path, the GPU run's checkpoint loaded on the CPU);
#   2. the step benchmark of both presets on the GPU (batch 32, BATCHES), phases timed with
#      the device synchronised at their boundaries, next to the PyTorch reference step on
#      the same GPU when python3 has torch with CUDA;
#   3. STEPS (300) steps of each preset with --device cuda and (unless COMPARE_CPU=0) with
#      --device cpu, same seed: steps/s, peak GPU memory, and the final losses side by side;
#   4. QUALITY_SECONDS (0: skipped) of the default preset on the GPU (seed QUALITY_SEED, 42),
#      6000 steps at most, a checkpoint every 500, stopped by SIGTERM at the cap (which
#      checkpoints) and packed for `cgan eval` elsewhere.
# STAGES picks among them (default "tests bench train quality").
# OUT_DIR (default target/gpu-check) receives the log and the packed runs.
set -uo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
steps="${STEPS:-300}"
batches="${BATCHES:-32}"
quality_seconds="${QUALITY_SECONDS:-0}"
quality_seed="${QUALITY_SEED:-42}"
stages=" ${STAGES:-tests bench train quality} "
wants() { [[ "$stages" == *" $1 "* ]]; }
out="${OUT_DIR:-$repo/target/gpu-check}"
mkdir -p "$out"
exec > >(tee -a "$out/gpu-check.log") 2>&1
say() { echo "gpu-check: $*"; }
die() { say "error: $*"; exit 100; }
failed=0
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# stage SECONDS NAME COMMAND...: runs COMMAND under a wall-clock cap, samples the GPU's
# memory in use every 0.2 s meanwhile, and reports how it ended and the peak.
stage() {
    local cap="$1" name="$2" t0 rc mem="$out/mem.$$" pid
    shift 2
    say "== $name (at most ${cap}s)"
    t0=$(now_ms)
    (while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1; sleep 0.2; done) >"$mem" 2>/dev/null &
    pid=$!
    timeout -k 10 "$cap" "$@"
    rc=$?
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    local dt="$(( ($(now_ms) - t0) / 1000 )).$(( ($(now_ms) - t0) % 1000 / 100 ))s" peak
    peak="$(sort -n "$mem" | tail -1)"; rm -f "$mem"
    if [ "$rc" -eq 0 ]; then say "-- $name: ok in $dt, peak GPU memory ${peak:-?} MiB (idle: $idle_mib MiB)"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then say "-- $name: TIMED OUT after $dt"; failed=$((failed + 1))
    else say "-- $name: FAILED (exit $rc) after $dt"; failed=$((failed + 1)); fi
    return 0
}

command -v nvidia-smi >/dev/null || die "no nvidia-smi: this machine has no NVIDIA driver"
nvidia-smi
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader | sed 's/^/gpu-check: GPU /'
command -v nvcc >/dev/null && say "$(nvcc --version | tail -2 | tr '\n' ' ')"
say "$(ldd --version | head -1)"

if [ "${1:-}" = "--bundle" ]; then
    bundle="$(cd "${2:?--bundle DIR}" && pwd)" || die "no bundle at ${2:-}: build one with scripts/cuda-build.sh"
    [ -r "$bundle/baked-paths.env" ] || die "$bundle/baked-paths.env unreadable: rebuild with scripts/cuda-build.sh"
    while IFS='=' read -r key value; do
        case "$key" in CUDA_INCLUDE_DIR | DFDX_OUT_DIR | COMPUTE_CAP | NVCC | GLIBC_NEEDED | BUILT) printf -v "$key" '%s' "$value" ;; esac
    done <"$bundle/baked-paths.env"
    say "bundle built from $BUILT with $NVCC for sm_$COMPUTE_CAP; needs $GLIBC_NEEDED"
    have="$(ldd --version | head -1 | grep -oE '[0-9]+\.[0-9]+$')"
    need="${GLIBC_NEEDED#GLIBC_}"
    [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" = "$need" ] ||
        die "glibc $have here, the bundle needs $need: build the bundle on an older distribution"
    cuda_home="${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")")}"
    [ -f "$cuda_home/include/cuda.h" ] || die "no CUDA toolkit at $cuda_home (set CUDA_HOME): the runtime-compiled kernels need its include/"
    # dfdx compiles some kernels at run time (nvrtc) with #includes from these two baked paths.
    if [ ! -e "$CUDA_INCLUDE_DIR/cuda.h" ]; then
        mkdir -p "$(dirname "$CUDA_INCLUDE_DIR")" && rm -rf "$CUDA_INCLUDE_DIR" && ln -s "$cuda_home/include" "$CUDA_INCLUDE_DIR"
    fi
    mkdir -p "$DFDX_OUT_DIR" && cp "$bundle"/cuh/*.cuh "$DFDX_OUT_DIR"/
    say "baked paths: $CUDA_INCLUDE_DIR -> $(readlink -f "$CUDA_INCLUDE_DIR"), $DFDX_OUT_DIR ($(ls "$DFDX_OUT_DIR" | wc -l) files)"
    for d in "$cuda_home/lib64" "$cuda_home/targets/x86_64-linux/lib" "$cuda_home/lib"; do
        [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    done
    for b in cgan device-test step; do
        missing="$(ldd "$bundle/$b" | grep 'not found')"
        [ -z "$missing" ] || die "$b: missing libraries: $(echo "$missing" | tr -s ' \t\n' ' '); set CUDA_HOME to a CUDA 13 toolkit"
    done
    ldd "$bundle/cgan" | grep -E 'cuda|nvrtc|cublas' | sed 's/^/gpu-check: uses /'
    [ -f data/mnist/train-images-idx3-ubyte ] || tar -xzf "$bundle/mnist.tgz" -C "$(mkdir -p data && echo data)"
    cgan="$bundle/cgan" device_test="$bundle/device-test" step_bench="$bundle/step"
    ref_article="$bundle/ref/gan_torch.py"
else
    command -v nvcc >/dev/null || die "no nvcc: install the CUDA toolkit, or run a bundle (scripts/cuda-build.sh, then --bundle)"
    cargo build --release --features cuda || die "cargo build --features cuda failed"
    json() { cargo "$@" --release --features cuda --no-run --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1; }
    cgan=target/release/cgan device_test="$(json test --test device)" step_bench="$(json bench --bench step)"
    ref_article="../shared/bench/gan_torch.py"
    [ -f data/mnist/train-images-idx3-ubyte ] || scripts/fetch-mnist.sh data/mnist
fi

idle_mib="$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)"

wants tests && stage 150 "device tests on the GPU" env CGAN_TEST_DEVICE=cuda "$device_test" --test-threads 1

torch_ok=0
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && torch_ok=1
wants bench || batches=""
for n in $batches; do
    for preset in article mode-seeking; do
        stage 60 "step benchmark, $preset, batch $n, cuda" "$step_bench" "$n" 50 10 "$preset" cuda
        case "$preset" in article) ref="$ref_article" ;; *) ref="benches/gan_torch_mode_seeking.py" ;; esac
        if [ "$torch_ok" = 1 ] && [ -f "$ref" ]; then
            stage 60 "PyTorch reference step, $preset, batch $n, cuda" python3 benches/torch_on_cuda.py "$ref" "$n" 50 10
        else
            say "PyTorch reference skipped: no torch with CUDA, or no $ref"
        fi
    done
done

common=(--eval-every 0 --summary-every 100 --checkpoint-every 100000 --no-progress-bar --seed 42 --steps "$steps")
devices="cuda cpu"
[ "${COMPARE_CPU:-1}" = 0 ] && devices=cuda
wants train || devices=""
for preset in article mode-seeking; do
    for dev in $devices; do
        rm -rf "$out/$preset-$dev"
        stage 120 "$steps steps of $preset on $dev" "$cgan" train --preset "$preset" --device "$dev" \
            --run-dir "$out/$preset-$dev" "${common[@]}"
    done
done
summary() { python3 - "$@" <<'EOF'
import json, sys
print(f"{'run':<22} {'steps/s':>8} {'loss/discriminator':>19} {'loss/generator':>15}")
for d in sys.argv[1:]:
    try:
        s = json.load(open(f"{d}/summary.json"))
    except OSError as e:
        print(f"{d.rsplit('/', 1)[-1]:<22} missing summary.json ({e.strerror})"); continue
    get = lambda k: s["last"].get(k) if s["last"].get(k) is not None else float("nan")
    print(f"{d.rsplit('/', 1)[-1]:<22} {s.get('steps_per_second', float('nan')):>8.2f} {get('loss/discriminator'):>19.4f} {get('loss/generator'):>15.4f}")
EOF
}
if [ -n "$devices" ]; then
    say "final losses, GPU next to CPU (same seed and steps; GAN training diverges across devices, so these are compared, not asserted)"
    summary "$out"/{article,mode-seeking}-cuda $([ "$devices" = cuda ] || echo "$out"/{article,mode-seeking}-cpu)
fi

if wants quality && [ "$quality_seconds" -gt 0 ]; then
    q="$out/quality"
    rm -rf "$q"
    # Stopped by SIGTERM at the cap (cgan checkpoints on it): that end is the plan, not a failure.
    stage $((quality_seconds + 60)) "the default preset on the GPU, 6000 steps or ${quality_seconds}s" \
        bash -c 'timeout -s TERM -k 50 "$0" "$@"; rc=$?; [ "$rc" -eq 124 ] && exit 0; exit "$rc"' \
        "$quality_seconds" "$cgan" train --device cuda --seed "$quality_seed" --steps 6000 \
        --eval-every 0 --summary-every 500 --checkpoint-every 500 --no-progress-bar --run-dir "$q"
    last="$(ls -d "$q"/checkpoints/step-* 2>/dev/null | sort -V | tail -1)"
    say "quality run: checkpoints $(ls "$q/checkpoints" 2>/dev/null | tr '\n' ' '); summary: $(tr -d '\n ' <"$q/summary.json" 2>/dev/null | cut -c1-300)"
    # What `cgan eval --run` needs: the config and the latest checkpoint (without Adam's state).
    [ -n "$last" ] && tar -czf "$out/quality-run.tgz" -C "$out" --exclude=optim.safetensors \
        quality/config.toml quality/summary.json "quality/checkpoints/$(basename "$last")" quality/samples &&
        say "packed $out/quality-run.tgz ($(du -h "$out/quality-run.tgz" | cut -f1)) with $(basename "$last")"
fi
say "done: $failed failed stage(s)"
exit "$failed"
