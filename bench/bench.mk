# Benchmarks: each program prints its numbers, ratios to a baseline measured in the same run.
