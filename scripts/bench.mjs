// `npm run bench`: see bench/main.mjs and BENCHMARKS.md.
import '../bench/main.mjs'
