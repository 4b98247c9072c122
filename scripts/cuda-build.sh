#!/usr/bin/env bash
# The CUDA bundle, built on a machine with no GPU and no CUDA toolkit (docs/gpu.md).
#   scripts/cuda-build.sh          fetch the pinned CUDA 13.0 wheels from PyPI, make stub
#                                  libraries and an nvidia-smi stand-in, build cgan and the
#                                  device test and the step benchmark with --features cuda
#                                  into target/cuda/build,
#                                  and pack target/cuda-bundle/ (carried to a GPU machine,
#                                  run there by scripts/gpu-check.sh --bundle).
#   scripts/cuda-build.sh --check  fast: the pins, the stub generator on a tiny header, and
#                                  the bundle's layout if one is built (what `make test` runs).
# A second run reuses the downloaded wheels, the toolkit and cargo's build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
say() { echo "cuda-build: $*"; }
die() { echo "cuda-build: error: $*" >&2; exit 1; }

# Pinned: driver 580 accepts PTX ISA 9.0, which nvcc 13.0 emits; nvcc 13.1+ emits newer ISA it rejects.
WHEELS=(nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88
    nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96)
# cudarc's sys.rs file -> the library it links, and the CUDA 13 soname that library has.
STUBS=("driver:cuda:libcuda.so.1" "nvrtc:nvrtc:libnvrtc.so.13"
    "cublas:cublas:libcublas.so.13" "cublaslt:cublasLt:libcublasLt.so.13")
COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}" # sm_90: H100 and H200
BUNDLE_MAX_MIB=48                     # the device tool carries 64 MiB in all

top="$repo/target/cuda"
root="$top/toolkit"        # CUDA_ROOT: its include/ path is baked into the binaries
build="$top/build"         # CARGO_TARGET_DIR, apart from the CPU build
bundle="$repo/target/cuda-bundle"

# stub_library SYS_RS SONAME OUT.so: a shared object defining every `pub fn` of a bindgen
# sys.rs as an empty function. Enough to link; the GPU machine's real library is used at run time.
stub_library() {
    local sys="$1" soname="$2" out="$3" c
    c="$(mktemp --suffix=.c)"
    grep -oE 'pub fn [A-Za-z_][A-Za-z0-9_]*\(' "$sys" | sed -E 's/pub fn ([A-Za-z0-9_]+)\(/void \1(void) {}/' | sort -u >"$c"
    [ -s "$c" ] || die "no functions found in $sys"
    gcc -shared -fPIC -Wl,-soname,"$soname" -o "$out" "$c"
    rm -f "$c"
}

# check_bundle DIR: the files scripts/gpu-check.sh --bundle needs, and the size limit.
check_bundle() {
    local d="$1" f mib
    for f in cgan device-test step baked-paths.env mnist.tgz cuh; do
        [ -e "$d/$f" ] || die "bundle $d lacks $f: rerun scripts/cuda-build.sh"
    done
    ls "$d"/cuh/*.cuh >/dev/null 2>&1 || die "bundle $d has no dfdx .cuh files: rerun scripts/cuda-build.sh"
    grep -q '^CUDA_INCLUDE_DIR=/' "$d/baked-paths.env" && grep -q '^DFDX_OUT_DIR=/' "$d/baked-paths.env" ||
        die "$d/baked-paths.env lacks CUDA_INCLUDE_DIR or DFDX_OUT_DIR"
    mib=$(( $(du -sb "$d" | cut -f1) / 1048576 ))
    [ "$mib" -le "$BUNDLE_MAX_MIB" ] || die "bundle is $mib MiB, over $BUNDLE_MAX_MIB MiB"
    say "bundle $d: $mib MiB, layout ok"
}

if [ "${1:-}" = "--check" ]; then
    for w in "${WHEELS[@]}"; do [[ "$w" == *==13.0.* ]] || die "$w: pin CUDA 13.0 (driver 580 rejects newer PTX)"; done
    t="$(mktemp -d)"; trap 'rm -rf "$t"' EXIT
    printf 'extern "C" {\n    pub fn cuInit(Flags: u32) -> CUresult;\n    pub fn cuMemAlloc_v2(p: *mut u64,\n        n: usize) -> CUresult;\n}\npub struct X { pub fn_: u8 }\n' >"$t/sys.rs"
    stub_library "$t/sys.rs" libcuda.so.1 "$t/libcuda.so"
    readelf -d "$t/libcuda.so" | grep -q 'SONAME.*\[libcuda.so.1\]' || die "stub has the wrong soname"
    syms="$(nm -D --defined-only "$t/libcuda.so" | awk '{print $3}' | grep -E '^cu' | sort | tr '\n' ' ')"
    [ "$syms" = "cuInit cuMemAlloc_v2 " ] || die "stub defines '$syms', expected cuInit and cuMemAlloc_v2"
    if [ -d "$bundle" ]; then check_bundle "$bundle"; else say "no bundle built (scripts/cuda-build.sh builds one)"; fi
    say "check ok"
    exit 0
fi

command -v gcc >/dev/null || die "gcc not found: apt-get install gcc"
command -v python3 >/dev/null || die "python3 not found: it fetches the CUDA wheels from PyPI"
mkdir -p "$top/wheels" "$root" "$top/bin" "$build"

say "CUDA 13.0 wheels from PyPI"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 \
    --platform manylinux2010_x86_64 -d "$top/wheels" "${WHEELS[@]}" ||
    die "pip could not fetch ${WHEELS[*]} from PyPI"
if [ ! -x "$root/bin/nvcc" ]; then
    say "unpacking the toolkit into $root"
    u="$(mktemp -d)"
    for w in "$top"/wheels/*.whl; do unzip -q -o "$w" 'nvidia/cu13/*' -d "$u"; done
    cp -a "$u"/nvidia/cu13/. "$root"/ && rm -rf "$u"
    chmod +x "$root"/bin/* "$root"/nvvm/bin/* # wheels drop the run bits
fi
[ -f "$root/include/cuda.h" ] || die "$root/include/cuda.h missing: delete $root and rerun"

mkdir -p "$root/lib64/stubs"
cudarc="$(cargo metadata --format-version 1 --features cuda 2>/dev/null |
    python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="cudarc"))')"
cudarc="$(dirname "$cudarc")"
for s in "${STUBS[@]}"; do
    IFS=: read -r sys lib soname <<<"$s"
    stub_library "$cudarc/src/$sys/sys.rs" "$soname" "$root/lib64/stubs/lib$lib.so"
    ln -sf "lib$lib.so" "$root/lib64/stubs/$soname" # for starting the binaries here
done

# dfdx's build.rs asks nvidia-smi for the compute capability even when CUDA_COMPUTE_CAP is set.
printf '#!/bin/sh\necho compute_cap\necho %s\n' "${COMPUTE_CAP:0:1}.${COMPUTE_CAP:1}" >"$top/bin/nvidia-smi"
chmod +x "$top/bin/nvidia-smi"

export PATH="$top/bin:$root/bin:$PATH" CUDA_ROOT="$root" CUDA_COMPUTE_CAP="$COMPUTE_CAP" CARGO_TARGET_DIR="$build"
# Lazy binding: a CUDA symbol cudarc declares but the GPU's libraries lack cannot stop start-up.
export RUSTFLAGS="-C link-arg=-Wl,-z,lazy"
say "building cgan and the device test with --features cuda (the first build takes ~15 minutes on 2 cores)"
cargo build --release --features cuda --bin cgan
# executable KIND NAME: builds `cargo KIND --NAME-kind target NAME` without running it and
# prints the executable's path (KIND: test or bench).
executable() {
    local release=--release
    [ "$1" = bench ] && release= # cargo bench builds with the bench profile (release's settings)
    cargo "$1" $release --features cuda "--$1" "$2" --no-run --message-format=json |
        python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]==sys.argv[1] and m.get("executable"): print(m["executable"])' "$2" | tail -1
}
test_bin="$(executable test device)"
bench_bin="$(executable bench step)"
[ -x "$test_bin" ] && [ -x "$bench_bin" ] || die "the device test or the step benchmark was not built"

say "packing $bundle"
rm -rf "$bundle" && mkdir -p "$bundle/cuh"
strip -o "$bundle/cgan" "$build/release/cgan"
strip -o "$bundle/device-test" "$test_bin"
strip -o "$bundle/step" "$bench_bin"
# The article's PyTorch reference step, for a ratio on the same GPU (the mode-seeking one is in benches/).
mkdir -p "$bundle/ref" && cp ../shared/bench/gan_torch.py "$bundle/ref/" 2>/dev/null ||
    say "no ../shared/bench/gan_torch.py: the GPU check will skip the article's PyTorch reference"
dfdx_out="$(ls -d "$build"/release/build/dfdx-*/out | while read -r d; do ls "$d"/*.cuh >/dev/null 2>&1 && echo "$d"; done | head -1)"
[ -n "$dfdx_out" ] || die "dfdx's OUT_DIR with .cuh files not found under $build"
cp "$dfdx_out"/*.cuh "$bundle/cuh/"
grep -q "$dfdx_out" "$bundle/cgan" || die "the binary does not hold $dfdx_out: dfdx's OUT_DIR moved"
{
    echo "CUDA_INCLUDE_DIR=$root/include"
    echo "DFDX_OUT_DIR=$dfdx_out"
    echo "COMPUTE_CAP=$COMPUTE_CAP"
    echo "NVCC=$("$root/bin/nvcc" --version | tail -1 | tr -d '=')"
    echo "GLIBC_NEEDED=$(objdump -T "$bundle/cgan" "$bundle/device-test" | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -1)"
    echo "BUILT=$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo -dirty)"
} >"$bundle/baked-paths.env"
[ -f data/mnist/train-images-idx3-ubyte ] || scripts/fetch-mnist.sh data/mnist
tar -czf "$bundle/mnist.tgz" -C data mnist
check_bundle "$bundle"
ldpath="$root/lib64/stubs"
LD_LIBRARY_PATH="$ldpath" "$bundle/cgan" --help >/dev/null || die "the bundle's cgan does not start against the stubs"
LD_LIBRARY_PATH="$ldpath" "$bundle/device-test" --list >/dev/null || die "the bundle's device test does not start against the stubs"
LD_LIBRARY_PATH="$ldpath" "$bundle/step" 2 1 0 >/dev/null || die "the bundle's step benchmark does not run on the CPU against the stubs"
say "the bundle's binaries start here against the stubs; $(readelf -d "$bundle/cgan" | grep -c 'BIND_NOW\|FLAGS_1.*NOW' || true) BIND_NOW flags (0: lazy)"
say "carry target/cuda-bundle to a GPU machine and run: scripts/gpu-check.sh --bundle target/cuda-bundle"
