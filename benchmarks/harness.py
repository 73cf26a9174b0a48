"""The timing harness every benchmark shares: compile once (and how long
that takes), then medians of calls timed round-robin. Needs only JAX, so a
benchmark may run it in an environment with another library (spyx 1.0)."""

import statistics
import time

import jax


def compile_(fn, args):
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))
    return compiled, compile_s


def timed(fn, args, repeats):
    """Median ms and compile seconds of one function."""
    compiled, compile_s = compile_(fn, args)
    return interleaved([(compiled, args)], repeats)[0], compile_s


def interleaved(calls, repeats):
    """Median ms of each compiled call, timed round-robin so that slow drifts
    of the machine (frequency, other load) hit every variant alike."""
    times = [[] for _ in calls]
    for _ in range(repeats):
        for i, (compiled, args) in enumerate(calls):
            start = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            times[i].append(time.perf_counter() - start)
    return [1e3 * statistics.median(t) for t in times]
