#!/bin/sh
# Builds the WebAssembly module and its JS bindings for the pages (pkg/) and
# for node (pkg-node/). Needs the wasm32 target and wasm-bindgen-cli at the
# exact version of the wasm-bindgen crate (see wasm/Cargo.toml).
set -eu
cd "$(dirname "$0")"
root=../..
target=${CARGO_TARGET_DIR:-$root/target}
cargo build -q --manifest-path "$root/Cargo.toml" -p ratebook-wasm --target wasm32-unknown-unknown --profile wasm-release
wasm="$target/wasm32-unknown-unknown/wasm-release/ratebook_wasm.wasm"
wasm-bindgen --target web --out-dir pkg "$wasm"
wasm-bindgen --target nodejs --out-dir pkg-node "$wasm"
raw=$(wc -c < pkg/ratebook_wasm_bg.wasm)
gz=$(gzip -9 -c pkg/ratebook_wasm_bg.wasm | wc -c)
echo "wasm module: $raw bytes raw, $gz bytes gzipped"
# pkg-node is CommonJS; this folder's package.json says ES modules.
echo '{ "type": "commonjs" }' > pkg-node/package.json
