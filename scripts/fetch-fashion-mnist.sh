#!/usr/bin/env bash
# Puts Fashion-MNIST's four IDX files in data/fashion-mnist/ from Debian's
# dataset-fashion-mnist package (gzip IDX under /usr/share/datasets/fashion-mnist/) and
# verifies their SHA-256 sums. Installs the package with apt-get when it is missing (as
# root), or unpacks it without installing (apt-get download + dpkg-deb) otherwise.
# Idempotent: nothing is fetched when valid files are already there.
set -euo pipefail

dest="${1:-data/fashion-mnist}"
src=/usr/share/datasets/fashion-mnist
sums="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888  train-images-idx3-ubyte
bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9  train-labels-idx1-ubyte
5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b  t10k-images-idx3-ubyte
0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34  t10k-labels-idx1-ubyte"

mkdir -p "$dest"
if (cd "$dest" && echo "$sums" | sha256sum --check --quiet --status 2>/dev/null); then
    echo "data: Fashion-MNIST already present and verified in $dest"
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$src/train-images-idx3-ubyte.gz" ]; then
    command -v apt-get >/dev/null || { echo "error: no apt-get: install Debian's dataset-fashion-mnist package by hand and rerun 'make data DATASET=fashion-mnist'" >&2; exit 1; }
    if [ "$(id -u)" = 0 ]; then
        echo "data: installing Debian's dataset-fashion-mnist"
        apt-get install -y -qq dataset-fashion-mnist >/dev/null || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
    else
        echo "data: unpacking Debian's dataset-fashion-mnist (not root: not installing it)"
        (cd "$tmp" && apt-get download -qq dataset-fashion-mnist)
        dpkg-deb -x "$tmp"/dataset-fashion-mnist_*.deb "$tmp/root"
        src="$tmp/root$src"
    fi
fi
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$src/$f.gz" ] || { echo "error: $src/$f.gz missing from dataset-fashion-mnist" >&2; exit 1; }
    gunzip -c "$src/$f.gz" > "$dest/$f.part" && mv "$dest/$f.part" "$dest/$f"
done
if ! (cd "$dest" && echo "$sums" | sha256sum --check --quiet); then
    echo "error: SHA-256 mismatch in $dest; delete it and rerun 'make data DATASET=fashion-mnist'" >&2
    exit 1
fi
echo "data: Fashion-MNIST verified in $dest"
