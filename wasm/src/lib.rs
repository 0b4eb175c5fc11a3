//! WebAssembly bindings: thin glue over `ratebook::api`. Placeholder until the wasm issue.
