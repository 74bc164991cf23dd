"""Benchmarks of the stream processors (``make bench``): CPU per record against Powertools and
the ``json.loads`` floor, AWS API calls against moto, cold imports, the zip size.

Benchmark code only: nothing here ships in ``build/handlers.zip``, and Powertools is a
benchmark dependency (``requirements-bench.txt``), never a runtime one.
"""
