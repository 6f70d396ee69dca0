#!/usr/bin/env python3
"""Instructions per message, counted by valgrind's callgrind: figures that do not depend on how
busy the machine is, for tcp and inproc at 1 B, swift-zmq next to libzmq.

    python3 Benchmarks/callgrind.py                          # about 3 minutes here
    python3 Benchmarks/callgrind.py --baseline OTHER/SwiftBench

Each case runs twice, with two message counts, and the difference of the two totals is divided
by the difference of the counts, so that start-up and shutdown cancel out. tcp counts the
receiving and the sending process separately, each under callgrind (both are slowed alike);
inproc has both ends in one process. Under callgrind the threads of a process take turns, so
batching differs from a real run: compare the two implementations, not these with run.py's.

SwiftBench is built here with DWARF 4 (valgrind 3.19 cannot read the DWARF 5 Swift emits) into
Benchmarks/.build-callgrind, and runs with BENCH_NO_DISPATCH_MAIN (valgrind 3.19 crashes on a
main thread parked in dispatch_main). A --baseline binary must be a SwiftBench that knows that
variable too (from commit 'callgrind.py' on), built the same way.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRATCH = os.path.join(HERE, ".build-callgrind")
COUNTS = (50_000, 150_000)


def build(scratch):
    # valgrind and libzmq3-dev (for the C peer) from Debian, installed when missing.
    missing = [package for package in ("valgrind", "libzmq3-dev")
               if subprocess.call(["dpkg", "-s", package], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0]
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.check_call(sudo + ["apt-get", "update", "-q"])
        subprocess.check_call(sudo + ["apt-get", "install", "-y", "-q"] + missing)
    subprocess.check_call(["bash", os.path.join(ROOT, "scripts", "require-packages")])
    subprocess.check_call(["swift", "build", "-c", "release", "--package-path", HERE, "--scratch-path", scratch,
                           "-Xswiftc", "-dwarf-version=4", "-Xcc", "-gdwarf-4"], stdout=subprocess.DEVNULL)
    zbench = os.path.join(scratch, "zbench")
    subprocess.check_call(["cc", "-O2", "-pthread", "-o", zbench, os.path.join(HERE, "c", "bench.c"), "-lzmq"])
    return zbench, os.path.join(scratch, "release", "SwiftBench")


def instructions(output_file):
    """The total instruction count callgrind wrote to `output_file`."""
    with open(output_file) as lines:
        for line in lines:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise SystemExit("no totals in %s" % output_file)


def callgrind(binary, arguments, output_file):
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + output_file, binary] + arguments
    env = dict(os.environ, BENCH_NO_DISPATCH_MAIN="1")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(process, what):
    out, err = process.communicate(timeout=1200)
    if process.returncode:
        raise SystemExit("%s failed under valgrind:\n%s" % (what, err[-2000:]))
    return out


def tcp_totals(binary, count, work):
    """(receiver, sender) instructions for `count` 1 B messages over tcp."""
    files = [os.path.join(work, "%s.out" % side) for side in ("recv", "send")]
    receiver = callgrind(binary, ["recv", "tcp://127.0.0.1:*", str(count), "1"], files[0])
    line = receiver.stdout.readline()
    if not line.startswith("ENDPOINT "):
        raise SystemExit("%s recv failed: %s %s" % (binary, line, receiver.stderr.read()[-2000:]))
    sender = callgrind(binary, ["send", line.split()[1], str(count), "1"], files[1])
    finish(sender, "%s send" % binary)
    out = finish(receiver, "%s recv" % binary)
    received = int(float(out.split()[-1]))
    if received != count:
        raise SystemExit("%s received %d of %d" % (binary, received, count))
    return [instructions(path) for path in files]


def inproc_totals(binary, count, work):
    path = os.path.join(work, "inproc.out")
    finish(callgrind(binary, ["inproc", str(count), "1"], path), "%s inproc" % binary)
    return [instructions(path)]


def per_message(totals, binary, work):
    small, large = (totals(binary, count, work) for count in COUNTS)
    return [(b - a) / (COUNTS[1] - COUNTS[0]) for a, b in zip(small, large)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", help="an earlier SwiftBench (built as this script builds it) to count too")
    parser.add_argument("--scratch-path", default=SCRATCH, help="where to build (default Benchmarks/.build-callgrind)")
    parser.add_argument("--only", help="tcp or inproc")
    options = parser.parse_args()
    zbench, swift = build(options.scratch_path)
    work = os.path.join(options.scratch_path, "runs")
    os.makedirs(work, exist_ok=True)
    impls = [("libzmq", zbench), ("swift-zmq", swift)] + ([("baseline", options.baseline)] if options.baseline else [])
    rows = [("tcp 1 B", "receiver", tcp_totals, 0), ("tcp 1 B", "sender", tcp_totals, 1),
            ("inproc 1 B", "both ends", inproc_totals, 0)]
    counted = {}
    for name, binary in impls:
        for totals in (tcp_totals, inproc_totals):
            if options.only and options.only not in totals.__name__:
                counted[name, totals] = [float("nan")] * 2
                continue
            counted[name, totals] = per_message(totals, binary, work)
            print("counted %s %s" % (name, totals.__name__), file=sys.stderr)
    header = "| case | side | libzmq | swift-zmq | swift-zmq / libzmq |" + (" baseline |" if options.baseline else "")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for case, side, totals, index in rows:
        libzmq, ours = counted["libzmq", totals][index], counted["swift-zmq", totals][index]
        line = "| %s | %s | %.0f | %.0f | %.2f |" % (case, side, libzmq, ours, ours / libzmq)
        if options.baseline:
            line += " %.0f |" % counted["baseline", totals][index]
        print(line)
    print("\nInstructions per message (Ir), from %d and %d messages; lower is better." % COUNTS)


if __name__ == "__main__":
    main()
