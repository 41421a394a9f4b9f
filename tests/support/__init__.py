"""Real servers and the fake model, for the test suite and the benchmarks."""
