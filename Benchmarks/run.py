#!/usr/bin/env python3
"""swift-zmq next to libzmq: one command, one table.

    python3 Benchmarks/run.py                 # everything, 3 runs per case (about 15 minutes here)
    python3 Benchmarks/run.py --only throughput --transports tcp --sizes 1,1024 --runs 5
    python3 Benchmarks/run.py --only curve --runs 1   # CURVE tcp PUSH -> PULL, mixed pairs too
    python3 Benchmarks/run.py --baseline OTHER/SwiftBench   # adds an earlier swift-zmq build
    python3 Benchmarks/run.py --only majordomo,titanic     # the Majordomo broker and Titanic rows
    python3 Benchmarks/run.py --only titanic,spool         # the stores' rows, on SQLite and PostgreSQL
    python3 Benchmarks/run.py --only fanout,topics,router,connections   # how the cost grows (and the plot)
    python3 Benchmarks/run.py --only bounds    # references with no ZeroMQ on one side or both

Builds Benchmarks/ in release mode (a separate package: the library never links libzmq) and the
C peer c/bench.c against Debian's libzmq3-dev (installed if missing, as is libsodium for the
library's CURVE trait, which the benchmark package enables). Every case runs both
implementations through the same harness, alternating, in the same run, and reports the median,
the min-max and the ratio swift-zmq / libzmq. For throughput higher is better; for latency,
memory and allocations lower is better. CPU ns per message is user+sys over the messages handled.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(HERE, ".build")
SIZES = [1, 64, 256, 1024, 65536, 1048576]
COUNTS = {1: 2_000_000, 64: 2_000_000, 256: 1_000_000, 1024: 500_000, 65536: 20_000, 1048576: 1_000}
CURVE_COUNTS = {64: 1_000_000, 1024: 500_000}


def build():
    if subprocess.call(["dpkg", "-s", "libzmq3-dev"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.check_call(sudo + ["apt-get", "update", "-q"])
        subprocess.check_call(sudo + ["apt-get", "install", "-y", "-q", "libzmq3-dev"])
    # libsodium for the CURVE trait: the same snippet scripts/test uses (apt-get update and install when missing).
    subprocess.check_call(["bash", os.path.join(ROOT, "scripts", "require-packages")])
    subprocess.check_call(["swift", "build", "-c", "release", "--package-path", HERE], stdout=subprocess.DEVNULL)
    os.makedirs(BUILD, exist_ok=True)
    subprocess.check_call(["cc", "-O2", "-pthread", "-o", os.path.join(BUILD, "zbench"), os.path.join(HERE, "c", "bench.c"), "-lzmq"])
    subprocess.check_call(["cc", "-O2", "-o", os.path.join(BUILD, "bounds"), os.path.join(HERE, "c", "bounds.c")])
    subprocess.check_call(["cc", "-O2", "-o", os.path.join(BUILD, "mdp"), os.path.join(HERE, "c", "mdp.c"), "-lzmq"])
    subprocess.check_call(["cc", "-O2", "-shared", "-fPIC", "-o", os.path.join(BUILD, "malloc_count.so"), os.path.join(HERE, "c", "malloc_count.c"), "-ldl"])
    return os.path.join(BUILD, "zbench"), os.path.join(BUILD, "release", "SwiftBench")


def result(text):
    line = [line for line in text.splitlines() if line.startswith("RESULT ")][-1]
    return [float(value) for value in line.split()[1:]]


def local_endpoint(transport):
    return "tcp://127.0.0.1:*" if transport == "tcp" else "ipc:///tmp/swift-zmq-bench-%d.sock" % os.getpid()


def pair_run(server, client, server_mode, client_mode, transport, count, size, env=None):
    """Starts `server` (which binds and prints ENDPOINT), runs `client` against it."""
    server_process = subprocess.Popen([server, server_mode, local_endpoint(transport), str(count), str(size)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = server_process.stdout.readline()
    if not line.startswith("ENDPOINT "):
        raise SystemExit("%s %s failed: %s %s" % (server, server_mode, line, server_process.stderr.read()))
    client_process = subprocess.run([client, client_mode, line.split()[1], str(count), str(size)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=600)
    out, err = server_process.communicate(timeout=600)
    if server_process.returncode or client_process.returncode:
        raise SystemExit("benchmark failed: %s %s" % (err, client_process.stderr))
    return (out, err), (client_process.stdout, client_process.stderr)


def throughput(receiver, sender, transport, size, env=None):
    count = COUNTS[size] if env is None else CURVE_COUNTS[size]
    if transport == "inproc":
        # Large inproc messages are passed by reference on both sides: count them like small ones,
        # or a run is over in a millisecond and measures only noise.
        count = max(count, 500_000)
        out = subprocess.run([receiver, "inproc", str(count), str(size)], stdout=subprocess.PIPE, text=True, check=True, timeout=600).stdout
        rate, cpu, received = result(out)
        return rate, cpu, None, count - int(received)
    (recv_out, recv_err), (send_out, send_err) = pair_run(receiver, sender, "recv", "send", transport, count, size, env)
    if env is not None:
        for binary, err in ((receiver, recv_err), (sender, send_err)):
            if "SECURITY CURVE" not in err:
                raise SystemExit("%s ignored the BENCH_CURVE_* keys: it would measure NULL, not CURVE" % binary)
    rate, recv_cpu, received = result(recv_out)
    return rate, recv_cpu, result(send_out)[1], count - int(received)


def curve_keys(libzmq):
    """Fresh CURVE key pairs for the receiver (server) and the sender (client), made once per run
    by libzmq's zmq_curve_keypair, and the environment that hands them to both peers."""
    keys = {}
    for side in ("SERVER", "CLIENT"):
        line = subprocess.run([libzmq, "keypair"], stdout=subprocess.PIPE, text=True, check=True).stdout.split()
        keys["BENCH_CURVE_%s_PUBLIC" % side], keys["BENCH_CURVE_%s_SECRET" % side] = line[1], line[2]
    return dict(os.environ, **keys)


def more_files():
    """For a child process: as many open files as allowed (10,000 connections need them)."""
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        # libzmq spends two descriptors on each socket (its mailbox and its connection).
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pub_sub_run(binary, subscriber_mode, count, size, last, pub_extra=(), sub_extra=()):
    """Runs `binary pub` and `binary <subscriber_mode> ... <last>` against it over tcp: the
    publisher starts once the subscriber side is connected (its READY, then half a second for
    the subscriptions to cross loopback). Returns the subscriber's RESULT (rate, CPU per message,
    received) and the publisher's CPU per message."""
    publisher = subprocess.Popen([binary, "pub", "tcp://127.0.0.1:*", str(count), str(size)] + [str(a) for a in pub_extra],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=more_files)
    line = publisher.stdout.readline()
    if not line.startswith("ENDPOINT "):
        raise SystemExit("%s pub failed: %s %s" % (binary, line, publisher.stderr.read()))
    subscriber = subprocess.Popen([binary, subscriber_mode, line.split()[1], str(count), str(size), str(last)] + [str(a) for a in sub_extra],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=more_files)
    if subscriber.stdout.readline().strip() != "READY":
        raise SystemExit("%s %s failed: %s" % (binary, subscriber_mode, subscriber.stderr.read()))
    time.sleep(0.5)
    publisher.stdin.write("go\n")
    publisher.stdin.flush()
    sub_out, sub_err = subscriber.communicate(timeout=600)
    pub_out, pub_err = publisher.communicate(timeout=600)
    if publisher.returncode or subscriber.returncode:
        raise SystemExit("%s failed: %s %s" % (subscriber_mode, pub_err, sub_err))
    return result(sub_out), result(pub_out)[1]


FANOUT_COUNTS = {1: 2_000_000, 10: 500_000, 100: 20_000, 1000: 2_000}


def fanout(binary, subscribers, size):
    """PUB -> N SUB over tcp, the subscribers in one process: the delivered msgs/s (every
    delivery over the span from the first message any subscriber got to the last), the
    CPU per delivered message of the subscriber process and per published message of the
    publisher, and the share of deliveries missed. Both sides set no high-water mark, so a PUB
    drops nothing and the rate is what flows end to end, not how much is thrown away; the
    publisher (an XPUB here) starts once it has every subscriber's subscription."""
    count = FANOUT_COUNTS[subscribers]
    (rate, sub_cpu, received), pub_cpu = pub_sub_run(binary, "sub", count, size, subscribers, pub_extra=(subscribers, 0))
    return rate, sub_cpu, pub_cpu, 1 - received / (count * subscribers)


def topics(binary, subscribers, per_subscriber):
    """One PUB and `subscribers` SUBs each holding `per_subscriber` topics of its own: each 64 B
    message matches one subscriber's topic, so what grows with the topics held is the matching."""
    count = 1_000_000
    (rate, sub_cpu, received), pub_cpu = pub_sub_run(binary, "sub", count, 64, subscribers,
                                                     pub_extra=(subscribers, per_subscriber), sub_extra=(per_subscriber,))
    return rate, sub_cpu, pub_cpu, 1 - received / count


def router(binary, dealers, peers):
    """A ROUTER (`binary`) echoing requests from `peers` DEALERs (always c/bench.c on libzmq, so
    only the ROUTER differs): each DEALER sends its share at once and reads nothing back, and the
    ROUTER's rate from its first request to its last echo is what fair-queueing over the peers
    and finding each reply's peer cost."""
    count = 200_000
    server = subprocess.Popen([binary, "router", "tcp://127.0.0.1:*", str(count), "64", str(peers)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=more_files)
    line = server.stdout.readline()
    if not line.startswith("ENDPOINT "):
        raise SystemExit("%s router failed: %s %s" % (binary, line, server.stderr.read()))
    # libzmq spends two descriptors per DEALER (its mailbox and its connection): at most 5,000 a
    # process keeps each under the usual limit of 20,000 open files.
    shares = [min(5_000, peers - start) for start in range(0, peers, 5_000)]
    clients = [subprocess.Popen([dealers, "dealers", line.split()[1], str(count * share // peers), "64", str(share)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=more_files) for share in shares]
    if server.stdout.readline().strip() != "READY":
        raise SystemExit("%s router failed: %s" % (binary, server.stderr.read()))
    for client in clients:
        client.stdin.write("go\n")
        client.stdin.flush()
    out, err = server.communicate(timeout=600)
    for client in clients:
        client.stdin.close()
        client.wait(timeout=600)
    if server.returncode:
        raise SystemExit("router failed: %s" % err)
    return result(out)


def connections(server, client, env=None):
    """Connections per second: each a new socket that connects, handshakes (NULL, or CURVE with
    `env`), sends one octet and closes; counted by the server from its first message to its last."""
    count = 2_000 if env is None else 1_000
    (out, _), _ = pair_run(server, client, "conn-server", "conn-client", "tcp", count, 1, env)
    return result(out)


def blackbox(binary, workers, size):
    """PUB -> one SUB over tcp whose messages SubscriberFanOut hands to `workers` handlers (the
    Guide's Black Box), run as fanout() runs a plain SUB: the handled msgs/s and the subscriber's
    CPU per message."""
    count = 2_000_000
    (rate, sub_cpu, received), _ = pub_sub_run(binary, "blackbox", count, size, workers)
    return rate, sub_cpu, 1 - received / count


def latency(binary, transport, size, io_thread=False):
    """p50 and p99 one-way latency (round trip / 2). With io_thread "task", swift-zmq runs its
    loops on the socket's I/O thread (`withTaskExecutorPreference(socket.ioExecutor)`); with
    "global", NIO's event loops are Swift's global executor and the context's I/O threads, and
    the loops are left where Swift puts them. libzmq ignores both."""
    count = 20_000 if transport == "tcp" else 50_000
    env = dict(os.environ, SWIFT_ZMQ_IO_EXECUTOR="1" if io_thread == "task" else "0",
               SWIFT_ZMQ_NIO_EXECUTOR="1" if io_thread == "global" else "0")
    if transport == "inproc":
        return result(subprocess.run([binary, "lat-inproc", str(count), str(size)], stdout=subprocess.PIPE, text=True, check=True, timeout=600, env=env).stdout)
    _, (client_out, _) = pair_run(binary, binary, "lat-server", "lat-client", transport, count, size, env)
    return result(client_out)


def steady(binary, seconds, size):
    """REQ -> REP round trips over tcp for `seconds`: p50, p99 and p99.9 (µs, one way) of each
    10 s window, and of the whole run, from the client."""
    server = subprocess.Popen([binary, "lat-server", "tcp://127.0.0.1:*", "2000000000", str(size)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if not line.startswith("ENDPOINT "):
        raise SystemExit("%s lat-server failed: %s %s" % (binary, line, server.stderr.read()))
    try:
        out = subprocess.run([binary, "lat-steady", line.split()[1], str(seconds), str(size)],
                             stdout=subprocess.PIPE, text=True, check=True, timeout=seconds + 120).stdout
    finally:
        server.kill()
        server.wait()
    windows = [[float(v) for v in l.split()[1:]] for l in out.splitlines() if l.startswith("WINDOW ")]
    return windows, result(out)


def free_port():
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def majordomo(broker, window):
    """Majordomo (18/MDP) round trips per second through `broker` (a command that takes the
    endpoint and prints ENDPOINT), with four echo workers and one client from c/mdp.c (libzmq)
    whichever the broker: only the broker differs between the columns. The client keeps
    `window` requests outstanding."""
    mdp = os.path.join(BUILD, "mdp")
    endpoint = "tcp://127.0.0.1:%d" % free_port()
    broker_process = subprocess.Popen(broker + [endpoint], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = broker_process.stdout.readline()
    if not line.startswith("ENDPOINT "):
        raise SystemExit("%s failed: %s %s" % (broker, line, broker_process.stderr.read()))
    workers = [subprocess.Popen([mdp, "worker", endpoint, "echo"]) for _ in range(4)]
    try:
        count = 40_000 if window == 1 else 150_000
        client = subprocess.run([mdp, "client", endpoint, "echo", str(count), str(window), "64"],
                                stdout=subprocess.PIPE, text=True, check=True, timeout=600)
        return result(client.stdout)[0]
    finally:
        for process in workers + [broker_process]:
            process.kill()
            process.wait()


def allocations(binary, preload, size, env=None):
    """Heap allocations per message of the receiving and the sending process: the difference
    between runs of 20,000 and 220,000 messages, so start-up and shut-down cancel out. With
    `env` from curve_keys(), the pair runs CURVE."""
    env = dict(env or os.environ, LD_PRELOAD=preload)
    totals = []
    for count in (20_000, 220_000):
        (_, recv_err), (_, send_err) = pair_run(binary, binary, "recv", "send", "tcp", count, size, env)
        mallocs = lambda text: int([l for l in text.splitlines() if l.startswith("MALLOCS ")][-1].split()[1])
        totals.append((mallocs(recv_err), mallocs(send_err)))
    return [(totals[1][i] - totals[0][i]) / 200_000 for i in (0, 1)]


class PostgresServer:
    """A throw-away PostgreSQL cluster for the store rows, started by scripts/postgres (which
    installs the server if it is missing) and stopped when its shell's input closes."""

    def __init__(self):
        self.shell = subprocess.Popen(["bash", "-c", 'source scripts/postgres >&2; echo "$SWIFT_ZMQ_POSTGRES"; read'],
                                      cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.shell.stdout.readline().strip()
        if not self.url:
            raise SystemExit("no PostgreSQL server for the store rows")
        self.count = 0

    def fresh_database(self):
        """The URL of a new, empty database on the server."""
        self.count += 1
        name = "bench_%d_%d" % (os.getpid(), self.count)
        subprocess.run(["psql", self.url, "-q", "-c", "CREATE DATABASE %s" % name], check=True, stdout=subprocess.DEVNULL)
        base = self.url.rsplit("/", 1)[0]
        return "%s/%s?sslmode=disable" % (base, name)

    def stop(self):
        self.shell.stdin.close()
        self.shell.wait()


def alternating(impls, runs, measure):
    """Each implementation's results of `measure(binary)`, `runs` times, the order alternating
    from run to run so that neither always goes first."""
    results = {}
    for run in range(runs):
        for name, binary in (impls.items() if run % 2 == 0 else reversed(list(impls.items()))):
            results.setdefault(name, []).append(measure(binary))
    return results


def column(results, index):
    """The `index`th value of each result, by implementation."""
    return {name: [result[index] for result in values] for name, values in results.items()}


def medians(samples):
    return {name: statistics.median(values) for name, values in samples.items()}


def pub_sub_note(results):
    """CPU per message of subscribers and publisher, and the share missed, from fanout() or
    topics() results, for libzmq and swift-zmq."""
    names = ("libzmq", "swift-zmq")
    per = "; ".join("%d / %d" % (statistics.median(r[1] for r in results[n]), statistics.median(r[2] for r in results[n])) for n in names)
    return per + " missed: " + ", ".join("%s %.0f%%" % (n, 100 * statistics.median(r[3] for r in results[n])) for n in names)


def human(value, unit):
    if unit == "msgs/s":
        if value >= 1e6:
            return "%.2fM" % (value / 1e6)
        return "%.0fk" % (value / 1e3) if value >= 1e4 else "%.0f" % value
    if unit == "bytes":
        if value >= 1e6:
            return "%.1f MB" % (value / 1e6)
        return "%.1f kB" % (value / 1e3) if value >= 1e4 else "%.0f B" % value
    if unit == "µs":
        return "%.1f" % value
    return "%.3f" % value


class Table:
    def __init__(self, columns):
        self.columns = columns
        self.rows = []

    def add(self, name, unit, samples, extra=""):
        """samples: column name -> list of values; ratio is the second column over the first,
        marked "level" when the two columns' ranges overlap (no win or loss to claim)."""
        cells = []
        medians = []
        for column in self.columns:
            values = samples.get(column)
            if not values:
                cells.append("–")
                medians.append(None)
                continue
            median = statistics.median(values)
            medians.append(median)
            spread = " (%s–%s)" % (human(min(values), unit), human(max(values), unit)) if len(values) > 1 else ""
            cells.append(human(median, unit) + spread)
        ratio = "%.2f" % (medians[1] / medians[0]) if medians[0] and medians[1] is not None else "–"
        # Level when the runs overlap: the worst of one against the best of the other crosses 1.
        first, second = samples.get(self.columns[0]), samples.get(self.columns[1])
        if ratio != "–" and len(first or []) > 1 and len(second or []) > 1 and min(second) / max(first) <= 1 <= max(second) / min(first):
            ratio += " (level)"
        row = "| %s | %s | %s | %s |" % (name, " | ".join(cells), ratio, extra)
        self.rows.append(row)
        print(row, file=sys.stderr)

    def show(self, note="CPU ns/msg recv/send (libzmq; swift-zmq)"):
        print("| case | " + " | ".join(self.columns) + " | ratio | %s |" % note)
        print("|---" * (len(self.columns) + 3) + "|")
        for row in self.rows:
            print(row)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="throughput,latency,steady,fanout,topics,router,connections,blackbox,mixed,bounds,curve,memory,allocations,majordomo,titanic,spool")
    parser.add_argument("--steady-seconds", type=int, default=60, help="how long the steady latency run lasts, per implementation")
    parser.add_argument("--transports", default="tcp,ipc,inproc")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--baseline", help="an earlier build of SwiftBench to compare with, in the same run")
    args = parser.parse_args()
    libzmq, swift = build()
    impls = {"libzmq": libzmq, "swift-zmq": swift}
    if args.baseline:
        impls["swift-zmq before"] = args.baseline
    table = Table(list(impls))
    only = args.only.split(",")
    transports = args.transports.split(",")
    sizes = [int(size) for size in args.sizes.split(",")]

    if "throughput" in only:
        for transport in transports:
            for size in sizes:
                samples, cpu, lost = {}, {}, {}
                for run in range(args.runs):
                    for name, binary in (impls.items() if run % 2 == 0 else reversed(list(impls.items()))):
                        rate, recv_cpu, send_cpu, missing = throughput(binary, binary, transport, size)
                        samples.setdefault(name, []).append(rate)
                        cpu.setdefault(name, []).append((recv_cpu, send_cpu or 0))
                        lost[name] = lost.get(name, 0) + missing
                per = "; ".join("%d / %d" % (statistics.median(c[0] for c in cpu[n]), statistics.median(c[1] for c in cpu[n])) for n in ("libzmq", "swift-zmq"))
                lost_note = " lost: " + ", ".join("%s %d" % item for item in lost.items() if item[1]) if any(lost.values()) else ""
                table.add("%s %d B, msgs/s" % (transport, size), "msgs/s", samples, per + lost_note)

    if "latency" in only:
        for transport in [t for t in transports if t != "ipc"]:
            for size in (1, 1024):
                for io_thread in (False, "task", "global") if transport == "tcp" else (False, "task"):
                    p50, p99 = {}, {}
                    for run in range(args.runs):
                        for name, binary in impls.items():
                            median, tail = latency(binary, transport, size, io_thread)
                            p50.setdefault(name, []).append(median)
                            p99.setdefault(name, []).append(tail)
                    how = {False: "", "task": ", swift-zmq tasks on the I/O thread",
                           "global": ", NIO's event loops as Swift's global executor"}[io_thread]
                    table.add("%s %d B one-way latency p50, µs%s" % (transport, size, how), "µs", p50)
                    table.add("%s %d B one-way latency p99, µs%s" % (transport, size, how), "µs", p99)

    curves = {}  # case -> x -> implementation -> median: the plot of how the cost grows
    if "steady" in only:
        # Once per implementation (a minute each), not per run: what it shows is drift over time.
        worst, whole, notes = {}, {}, []
        for name, binary in impls.items():
            windows, overall = steady(binary, args.steady_seconds, 1)
            for end, p50, p99, p999 in windows:
                curves.setdefault("tcp 1 B REQ → REP for %d s: p99 one-way µs per 10 s" % args.steady_seconds, {}).setdefault(int(end), {})[name] = p99
            worst[name] = [max(w[2] for w in windows)] if windows else []
            whole[name] = [overall[1]]
            notes.append("%s p50/p99/p99.9 per 10 s: %s" % (name, ", ".join("%.0f/%.0f/%.0f" % tuple(w[1:]) for w in windows)))
        table.add("tcp 1 B one-way latency p99 over %d s, µs" % args.steady_seconds, "µs", whole)
        table.add("tcp 1 B one-way latency p99, worst 10 s window, µs", "µs", worst, "; ".join(notes))
    if "fanout" in only:
        for subscribers in (1, 10, 100, 1000):
            results = alternating(impls, args.runs, lambda binary: fanout(binary, subscribers, 64))
            table.add("tcp 64 B PUB → %s SUB, delivered msgs/s (all subscribers)" % format(subscribers, ","), "msgs/s", column(results, 0),
                      pub_sub_note(results))
            curves.setdefault("PUB → N SUB (64 B, tcp): delivered msgs/s", {})[subscribers] = medians(column(results, 0))

    if "topics" in only:
        for per_subscriber in (1, 100):
            results = alternating(impls, args.runs, lambda binary: topics(binary, 1000, per_subscriber))
            table.add("tcp 64 B PUB → 1,000 SUB holding %d topic%s each (one match per message), msgs/s" % (per_subscriber, "s" if per_subscriber > 1 else ""),
                      "msgs/s", column(results, 0), pub_sub_note(results))
            curves.setdefault("PUB → 1,000 SUB, topics held by each: msgs/s", {})[per_subscriber] = medians(column(results, 0))

    if "router" in only:
        for peers in (1, 100, 10_000):
            results = alternating(impls, args.runs, lambda binary: router(binary, libzmq, peers))
            per = "; ".join("%d" % statistics.median(column(results, 1)[n]) for n in ("libzmq", "swift-zmq"))
            table.add("tcp 64 B ROUTER echoing %s DEALER peers, msgs/s" % format(peers, ","), "msgs/s", column(results, 0), per + " (DEALERs: c/bench.c on libzmq)")
            curves.setdefault("ROUTER with N DEALER peers (64 B, tcp): msgs/s", {})[peers] = medians(column(results, 0))

    if "connections" in only:
        for label, env in (("NULL", None), ("CURVE", curve_keys(libzmq))):
            results = alternating(impls, args.runs, lambda binary: connections(binary, binary, env))
            per = "; ".join("%d" % statistics.median(column(results, 1)[n]) for n in ("libzmq", "swift-zmq")) + " (server, per connection)"
            table.add("tcp connections/s, %s (connect, handshake, one message, close)" % label, "msgs/s", column(results, 0), per)

    if "blackbox" in only:
        # One subscriber connection fanned out to N handlers (SubscriberFanOut), against libzmq's
        # plain PUB -> 1 SUB: what the hand-off to workers costs, and what several workers give.
        for workers in (1, 4):
            samples, cpu = {}, {}
            for run in range(args.runs):
                for name in (("libzmq", "swift-zmq") if run % 2 == 0 else ("swift-zmq", "libzmq")):
                    if name == "libzmq":
                        rate, sub_cpu, _, _ = fanout(libzmq, 1, 64)
                    else:
                        rate, sub_cpu, _ = blackbox(swift, workers, 64)
                    samples.setdefault(name, []).append(rate)
                    cpu.setdefault(name, []).append(sub_cpu)
            per = "; ".join("%d" % statistics.median(cpu[n]) for n in ("libzmq", "swift-zmq"))
            table.add("tcp 64 B PUB → 1 SUB → %d worker%s (Black Box) vs libzmq PUB → 1 SUB, msgs/s" % (workers, "s" if workers > 1 else ""),
                      "msgs/s", samples, per)

    if "mixed" in only:
        for size in (1, 256, 1024):
            samples = {}
            for run in range(args.runs):
                for name, (receiver, sender) in (("libzmq", (libzmq, libzmq)), ("swift-zmq", (libzmq, swift))):
                    samples.setdefault(name, []).append(throughput(receiver, sender, "tcp", size)[0])
            table.add("tcp %d B, swift-zmq PUSH → libzmq PULL (vs libzmq → libzmq)" % size, "msgs/s", samples)
            samples = {}
            for run in range(args.runs):
                for name, (receiver, sender) in (("libzmq", (libzmq, libzmq)), ("swift-zmq", (swift, libzmq))):
                    samples.setdefault(name, []).append(throughput(receiver, sender, "tcp", size)[0])
            table.add("tcp %d B, libzmq PUSH → swift-zmq PULL (vs libzmq → libzmq)" % size, "msgs/s", samples)

    bounds = Table(["libzmq", "reference"])
    if "bounds" in only:
        # References with no ZeroMQ library on one side or both (c/bounds.c: plain blocking
        # sockets, one thread a side, speaking just enough ZMTP; SwiftBench's nio-lat modes: NIO's
        # own NIOAsyncChannel), against libzmq in the same run: what libzmq's half of a mixed pair
        # does with a partner that costs almost nothing, what the kernel's copies and wake-ups
        # cost, and what SwiftNIO itself costs a round trip. Not strict ceilings: a ZeroMQ
        # implementation's I/O threads overlap work that one plain thread does in turn.
        plain = os.path.join(BUILD, "bounds")
        def pairs_row(title, transport, size, bound_pair, note):
            samples, cpu = {}, {}
            for run in range(args.runs):
                for name, (receiver, sender) in ((("libzmq", (libzmq, libzmq)), ("reference", bound_pair)) if run % 2 == 0
                                                 else (("reference", bound_pair), ("libzmq", (libzmq, libzmq)))):
                    rate, recv_cpu, send_cpu, _ = throughput(receiver, sender, transport, size)
                    samples.setdefault(name, []).append(rate)
                    cpu.setdefault(name, []).append((recv_cpu, send_cpu or 0))
            per = "; ".join("%d / %d" % (statistics.median(c[0] for c in cpu[n]), statistics.median(c[1] for c in cpu[n])) for n in ("libzmq", "reference"))
            bounds.add(title, "msgs/s", samples, "%s; CPU ns/msg recv/send: %s" % (note, per))
        pairs_row("tcp 1 B: libzmq PUSH → a PULL that only counts (vs libzmq → libzmq)", "tcp", 1, (plain, libzmq),
                  "libzmq's PUSH with a PULL that costs almost nothing")
        pairs_row("tcp 1 B: a PUSH that writes ready-made frames → libzmq PULL (vs libzmq → libzmq)", "tcp", 1, (libzmq, plain),
                  "libzmq's PULL with a PUSH that costs almost nothing")
        for transport in ("tcp", "ipc"):
            pairs_row("%s 1 MiB: plain sockets, 1 MiB writes and reads, one thread a side (vs libzmq → libzmq)" % transport, transport, 1048576, (plain, plain),
                      "no ZeroMQ on either side: the kernel's copies, each side's in one thread")
        for label, binary, mode, what in (("plain blocking sockets, one thread a side", plain, "lat",
                                           "no ZeroMQ: one thread woken per trip, where a ZeroMQ's I/O thread adds more"),
                                          ("NIO's NIOAsyncChannel, tasks where Swift puts them", swift, "nio-lat",
                                           "no ZeroMQ: what SwiftNIO's own async API costs on the default path")):
            p50, p99 = {}, {}
            for run in range(args.runs):
                for name, (peer, peer_mode) in ((("libzmq", (libzmq, "lat")), ("reference", (binary, mode))) if run % 2 == 0
                                                else (("reference", (binary, mode)), ("libzmq", (libzmq, "lat")))):
                    _, (client_out, _) = pair_run(peer, peer, peer_mode + "-server", peer_mode + "-client", "tcp", 20_000, 1)
                    median, tail = result(client_out)
                    p50.setdefault(name, []).append(median)
                    p99.setdefault(name, []).append(tail)
            bounds.add("tcp 1 B one-way latency p50, µs: %s (vs libzmq REQ → REP)" % label, "µs", p50, what)
            bounds.add("tcp 1 B one-way latency p99, µs: %s (vs libzmq REQ → REP)" % label, "µs", p99, what)

    if "curve" in only:
        # tcp PUSH -> PULL with CURVE, the receiver the server: each implementation with itself, and
        # the mixed pairs (an interop check at speed) against the libzmq pair of the same run; in a
        # mixed row the swift-zmq cells, CPU included, are the mixed pair's. No --baseline here, as in
        # "mixed" (and a build from before these rows would ignore the keys, which throughput() catches).
        env = curve_keys(libzmq)
        pairs = {"libzmq": (libzmq, libzmq), "swift-zmq": (swift, swift),
                 "swift→libzmq": (libzmq, swift), "libzmq→swift": (swift, libzmq)}
        for size in (64, 1024):
            samples, cpu, lost = {}, {}, {}
            for run in range(args.runs):
                for name, (receiver, sender) in (pairs.items() if run % 2 == 0 else reversed(list(pairs.items()))):
                    rate, recv_cpu, send_cpu, missing = throughput(receiver, sender, "tcp", size, env)
                    samples.setdefault(name, []).append(rate)
                    cpu.setdefault(name, []).append((recv_cpu, send_cpu))
                    lost[name] = lost.get(name, 0) + missing
            per = lambda names: "; ".join("%d / %d" % (statistics.median(c[0] for c in cpu[n]), statistics.median(c[1] for c in cpu[n])) for n in names)
            lost_note = lambda names: " lost: " + ", ".join("%s %d" % (n, lost[n]) for n in names if lost[n]) if any(lost[n] for n in names) else ""
            for title, name in (("", "swift-zmq"), (", swift-zmq PUSH → libzmq PULL (vs libzmq → libzmq)", "swift→libzmq"),
                                (", libzmq PUSH → swift-zmq PULL (vs libzmq → libzmq)", "libzmq→swift")):
                table.add("CURVE tcp %d B, msgs/s%s" % (size, title), "msgs/s", {"libzmq": samples["libzmq"], "swift-zmq": samples[name]},
                          per(("libzmq", name)) + lost_note(("libzmq", name)))

    if "memory" in only:
        idle, peak, per_message = {}, {}, {}
        for run in range(args.runs):
            for name, binary in impls.items():
                idle.setdefault(name, []).append(result(subprocess.run([binary, "mem-idle", "1000"], stdout=subprocess.PIPE, text=True, check=True).stdout)[0])
                high, queued = result(subprocess.run([binary, "mem-queue", "1000000", "64"], stdout=subprocess.PIPE, text=True, check=True).stdout)
                peak.setdefault(name, []).append(high)
                per_message.setdefault(name, []).append(queued)
        table.add("resident bytes per idle tcp connection (1,000 connections)", "bytes", idle)
        table.add("peak resident memory, 1,000,000 × 64 B queued (HWM 1,000,000)", "bytes", peak)
        table.add("resident bytes per queued 64 B message", "bytes", per_message)

    if "allocations" in only:
        preload = os.path.join(BUILD, "malloc_count.so")
        for size in (1, 64, 256, 1024):
            recv, send = {}, {}
            for run in range(args.runs):
                for name, binary in impls.items():
                    r, s = allocations(binary, preload, size)
                    recv.setdefault(name, []).append(r)
                    send.setdefault(name, []).append(s)
            table.add("tcp %d B heap allocations per message, receiver" % size, "allocs", recv)
            table.add("tcp %d B heap allocations per message, sender" % size, "allocs", send)
        # CURVE on both sides: the boxes are sealed into the batch's buffer and opened inline or
        # into one buffer per read, so the steady path should allocate nothing per message.
        curve_env = curve_keys(libzmq)
        for size in (64, 1024):
            recv, send = {}, {}
            for run in range(args.runs):
                for name, binary in impls.items():
                    r, s_ = allocations(binary, preload, size, curve_env)
                    recv.setdefault(name, []).append(r)
                    send.setdefault(name, []).append(s_)
            table.add("CURVE tcp %d B heap allocations per message, receiver" % size, "allocs", recv)
            table.add("CURVE tcp %d B heap allocations per message, sender" % size, "allocs", send)

    if "majordomo" in only:
        brokers = {"libzmq": [os.path.join(BUILD, "mdp"), "broker"], "swift-zmq": [swift, "mdp-broker"]}
        for window in (1, 16):
            samples = {}
            for run in range(args.runs):
                for name, broker in (brokers.items() if run % 2 == 0 else reversed(list(brokers.items()))):
                    samples.setdefault(name, []).append(majordomo(broker, window))
            table.add("MDP 0.2 round trips/s through the broker, 4 echo workers, 1 client with %d in flight" % window, "msgs/s", samples,
                      "client and workers: c/mdp.c on libzmq")

    swifts = {name: binary for name, binary in impls.items() if name != "libzmq"}
    postgres = PostgresServer() if ("titanic" in only or "spool" in only) else None
    if "titanic" in only:
        # swift-zmq only: a broker, Titanic (SQLite: WAL, synchronous FULL) and four echo
        # workers in one process; 16 clients submit, fetch and close, one request at a time each.
        def titanic(binary, store=None):
            command = [binary, "titanic", "2000", "16", "64"] + ([store] if store else [])
            return result(subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, timeout=600).stdout)[0]
        samples = {name: [titanic(binary) for _ in range(args.runs)] for name, binary in swifts.items()}
        table.add("Titanic requests/s, durable (submit, dispatch, store, fetch, close), 16 clients", "msgs/s", samples, "swift-zmq only")
        samples = {"swift-zmq": [titanic(swift, postgres.fresh_database()) for _ in range(args.runs)]}
        table.add("Titanic requests/s on PostgreSQL (loopback), 16 clients", "msgs/s", samples, "swift-zmq only")

    if "spool" in only:
        # swift-zmq only: 20,000 messages of 64 B into a DiskSpool with no consumer (spilling:
        # group commits of 32), then drained to a consumer that binds (each batch leaves the disk
        # in a commit before it is sent).
        def spool(store=None):
            command = [swift, "spool", "20000", "64"] + ([store] if store else [])
            return result(subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, timeout=600).stdout)
        for label, store in (("SQLite", lambda: None), ("PostgreSQL (loopback)", postgres.fresh_database)):
            runs = [spool(store()) for _ in range(args.runs)]
            table.add("spool on %s, 64 B: messages/s while spilling" % label, "msgs/s", {"swift-zmq": [r[0] for r in runs]}, "swift-zmq only")
            table.add("spool on %s, 64 B: messages/s while draining" % label, "msgs/s", {"swift-zmq": [r[1] for r in runs]}, "swift-zmq only")
    if postgres:
        postgres.stop()

    table.show()
    if bounds.rows:
        print("\nReferences with no ZeroMQ on one side or both (ratio: the reference over libzmq):\n")
        bounds.show("what the reference is")
    if curves:
        plot(curves)


def plot(curves):
    """One chart per scaling case, swift-zmq and libzmq (and a baseline) as lines over the
    growing work, written next to BENCHMARKS.md. matplotlib comes from PyPI, installed if missing."""
    try:
        import matplotlib
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "matplotlib==3.9.2"])
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    figure, axes = pyplot.subplots(1, len(curves), figsize=(6 * len(curves), 4.5), squeeze=False)
    for axis, (case, points) in zip(axes[0], curves.items()):
        xs = sorted(points)
        for name in sorted({n for values in points.values() for n in values}):
            axis.plot(xs, [points[x].get(name) for x in xs], marker="o", label=name)
        if xs[-1] >= 50 * xs[0]:  # work that grows by orders of magnitude; time runs on a plain axis
            axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(case, fontsize=10)
        axis.set_xticks(xs)
        axis.set_xticklabels([format(x, ",") for x in xs])
        axis.legend()
        axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    path = os.path.join(ROOT, "BENCHMARKS-scaling.png")
    figure.savefig(path, dpi=100)
    print("plot: %s" % path, file=sys.stderr)


if __name__ == "__main__":
    main()
