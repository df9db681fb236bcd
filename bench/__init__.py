"""Benchmarks and the load benchmark's data set; never part of the test suite."""
