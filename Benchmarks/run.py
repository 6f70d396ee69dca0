#!/usr/bin/env python3
"""Throughput of swift-zmq next to libzmq, in one run, alternating, as a ratio.

    python3 Benchmarks/run.py [--runs 3] [--sizes 1,256,1024] [--transport tcp]

Builds Benchmarks/ (release) and the C peer (cc -lzmq, from Debian's libzmq3-dev), then runs
PUSH -> PULL for each size, alternating libzmq->libzmq and swift->swift, and prints one table:
median msgs/s, min-max, the ratio swift/libzmq, and CPU ns per message on each side.
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COUNTS = {1: 2_000_000, 64: 2_000_000, 256: 1_000_000, 1024: 500_000, 65536: 20_000, 1048576: 1_000}


def build():
    if subprocess.call(["dpkg", "-s", "libzmq3-dev"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
        subprocess.check_call(["apt-get", "install", "-y", "-q", "libzmq3-dev"])
    subprocess.check_call(["swift", "build", "-c", "release", "--package-path", HERE], stdout=subprocess.DEVNULL)
    subprocess.check_call(["cc", "-O2", "-o", os.path.join(HERE, ".build", "thr"), os.path.join(HERE, "c", "thr.c"), "-lzmq"])
    subprocess.check_call(["cc", "-O2", "-shared", "-fPIC", "-o", os.path.join(HERE, ".build", "malloc_count.so"), os.path.join(HERE, "c", "malloc_count.c"), "-ldl"])
    return {
        "malloc_count": os.path.join(HERE, ".build", "malloc_count.so"),
        "libzmq": os.path.join(HERE, ".build", "thr"),
        "swift": os.path.join(HERE, ".build", "release", "SwiftThroughput"),
    }


def endpoint_for(transport):
    if transport == "tcp":
        return "tcp://127.0.0.1:*"
    if transport == "ipc":
        return "ipc:///tmp/swift-zmq-bench-%d.sock" % os.getpid()
    raise SystemExit("transport must be tcp or ipc")


def run_once(receiver, sender, transport, count, size):
    recv = subprocess.Popen([receiver, "recv", endpoint_for(transport), str(count), str(size)], stdout=subprocess.PIPE, text=True)
    line = recv.stdout.readline()
    assert line.startswith("ENDPOINT "), line
    endpoint = line.split()[1]
    send = subprocess.run([sender, "send", endpoint, str(count), str(size)], stdout=subprocess.PIPE, text=True, check=True)
    out, _ = recv.communicate(timeout=300)
    assert recv.returncode == 0
    _, rate, recv_cpu, received = out.split()
    _, _, send_cpu, _ = send.stdout.split()
    if int(received) != count:
        print("  lost %d of %d messages" % (count - int(received), count), file=sys.stderr)
    return float(rate), float(recv_cpu), float(send_cpu), count - int(received)


def count_allocations(binary, preload, transport, count, size):
    """Heap allocations of the receiving and the sending process for one run of `count` messages."""
    env = dict(os.environ, LD_PRELOAD=preload)
    recv = subprocess.Popen([binary, "recv", endpoint_for(transport), str(count), str(size)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    endpoint = recv.stdout.readline().split()[1]
    send = subprocess.run([binary, "send", endpoint, str(count), str(size)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, check=True)
    _, recv_err = recv.communicate(timeout=300)
    def mallocs(text):
        return int([line for line in text.splitlines() if line.startswith("MALLOCS ")][-1].split()[1])
    return mallocs(recv_err), mallocs(send.stderr)


def allocations_table(binaries, sizes, transport):
    """Allocations per message on the steady path: the difference between runs of 20,000 and
    220,000 messages, divided by 200,000, so start-up and shut-down cancel out."""
    print("| %s allocations per message | libzmq recv / send | swift-zmq recv / send |" % transport)
    print("|---|---|---|")
    for size in sizes:
        cells = []
        for impl in ("libzmq", "swift"):
            small = count_allocations(binaries[impl], binaries["malloc_count"], transport, 20_000, size)
            large = count_allocations(binaries[impl], binaries["malloc_count"], transport, 220_000, size)
            cells.append("%.3f / %.3f" % ((large[0] - small[0]) / 200_000, (large[1] - small[1]) / 200_000))
        print("| %d B | %s | %s |" % (size, cells[0], cells[1]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="1,256,1024")
    parser.add_argument("--transport", default="tcp")
    parser.add_argument("--allocations", action="store_true", help="count heap allocations per message instead")
    args = parser.parse_args()
    binaries = build()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.allocations:
        allocations_table(binaries, sizes, args.transport)
        return
    results = {}
    for size in sizes:
        for run in range(args.runs):
            for impl in ("libzmq", "swift"):
                rate, recv_cpu, send_cpu, lost = run_once(binaries[impl], binaries[impl], args.transport, COUNTS.get(size, 100_000), size)
                results.setdefault((size, impl), []).append((rate, recv_cpu, send_cpu, lost))
                print("  %s %6d B run %d: %10.0f msgs/s" % (impl, size, run + 1, rate), file=sys.stderr)

    print("| %s PUSH→PULL | libzmq msgs/s (min–max) | swift-zmq msgs/s (min–max) | ratio | CPU ns/msg recv/send libzmq | swift-zmq | lost libzmq / swift-zmq |" % args.transport)
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        cells = []
        medians = {}
        cpu = {}
        for impl in ("libzmq", "swift"):
            rows = results[(size, impl)]
            rates = [r[0] for r in rows]
            medians[impl] = statistics.median(rates)
            cells.append("%s (%s–%s)" % (human(medians[impl]), human(min(rates)), human(max(rates))))
            cpu[impl] = "%d / %d" % (statistics.median(r[1] for r in rows), statistics.median(r[2] for r in rows))
        lost = "%d / %d" % (sum(r[3] for r in results[(size, "libzmq")]), sum(r[3] for r in results[(size, "swift")]))
        print("| %d B | %s | %s | %.2f | %s | %s | %s |" % (size, cells[0], cells[1], medians["swift"] / medians["libzmq"], cpu["libzmq"], cpu["swift"], lost))


def human(rate):
    return "%.2fM" % (rate / 1e6) if rate >= 1e6 else "%.0fk" % (rate / 1e3)


if __name__ == "__main__":
    main()
