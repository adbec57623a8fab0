"""Load and latency benchmarks of the suite on both shapes (`make bench`); see README.md."""
