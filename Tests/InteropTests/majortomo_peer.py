#!/usr/bin/env python3
"""Real majortomo 0.2.0 components (PyPI, on pyzmq) for the Majordomo interop tests. Install with
`python3 -m pip install majortomo==0.2.0 six`: majortomo imports six but does not declare it.
majortomo is not 18/MDP on the wire: every message has a leading empty frame, a client's REQUEST
is 0x02, the broker's replies to clients are PARTIAL 0x03 / FINAL 0x04 with no service frame, and
there is no MMI. Our "majortomo dialect" is tested against these processes. Each mode prints
"ENDPOINT <endpoint>" once bound or connected, and one JSON report line when done (exit 0 if ok).

  majortomo_peer.py broker --bind EP [--heartbeat-interval S] [--heartbeat-timeout S] [--count N]
      majortomo.broker.Broker bound at EP (tcp://127.0.0.1:* is resolved; ENDPOINT names the real
      port). Runs until SIGTERM/SIGINT (majortomo's stop(): it notices within about two heartbeat
      intervals), or with --count N until it has forwarded N FINAL replies, then reports counts:
      ready, requests, partials, replies, disconnects, heartbeats_sent/heard, workers_expired,
      failures (exceptions majortomo logged), warnings (its first 20 protocol complaints).
  majortomo_peer.py client --connect EP --service S --count N [--timeout S]
      majortomo.Client sends N requests [b"request %d"], one at a time, and reports the replies
      as [{"partials": [[str...]...], "final": [str...]}] (majortomo's recv_all: every part but
      the last is a PARTIAL, the last is the FINAL). --timeout is per reply part.
  majortomo_peer.py worker --connect EP --service S --count N [--partials K] [--heartbeat-interval S]
      majortomo.Worker answers N requests with K partials [b"partial %d"], then the final
      [b"python", body...], closes (which sends DISCONNECT), and reports {"served": N} with
      heartbeats_sent/heard and reconnects. --timeout (default 30 s) bounds the whole run.

majortomo's own log lines are counted for the reports (heartbeats sent and heard, reconnects,
protocol warnings); they go to stderr only with --verbose, so a chatty peer cannot fill the pipe.
"""
import argparse
import json
import logging
import signal
import sys

import zmq

try:
    import majortomo
    from majortomo import error as mdp_error
    from majortomo import protocol as mdp_protocol
    from majortomo.broker import Broker
except ImportError as exc:  # the test must fail, never pass, without its peer
    # majortomo 0.2.0 imports six (majortomo/util.py) without declaring it: install both.
    print(json.dumps({"ok": False, "error": "cannot import majortomo (python3 -m pip install majortomo==0.2.0 six): %s"
                      % exc}), flush=True)
    sys.exit(1)


try:
    from importlib.metadata import version as _version
    MAJORTOMO_VERSION = _version("majortomo")
except Exception:  # not installed as a distribution
    MAJORTOMO_VERSION = None


def report(ok, **fields):
    fields["ok"] = ok
    fields["majortomo"] = MAJORTOMO_VERSION
    print(json.dumps(fields), flush=True)
    sys.exit(0 if ok else 1)


class LogCounter(logging.Handler):
    """Counts majortomo's log messages by their format string; keeps the first warnings."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.counts = {}
        self.warnings = []

    def emit(self, record):
        self.counts[record.msg] = self.counts.get(record.msg, 0) + 1
        if record.levelno >= logging.WARNING and len(self.warnings) < 20:
            self.warnings.append(record.getMessage())

    def count(self, fmt):
        return self.counts.get(fmt, 0)


def setup_logging(verbose):
    counter = LogCounter()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(counter)
    if verbose:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setLevel(logging.DEBUG)
        stderr.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(stderr)
    return counter


class CountingBroker(Broker):
    """majortomo's Broker, unchanged on the wire; it prints its endpoint and counts what passes."""

    def __init__(self, stop_after, **kwargs):
        super().__init__(**kwargs)
        self.stop_after = stop_after
        self.counts = {"ready": 0, "requests": 0, "partials": 0, "replies": 0, "disconnects": 0}

    def bind(self):
        super().bind()
        self._socket.setsockopt(zmq.LINGER, 1000)  # let the last FINAL out before exiting
        # Resolve a wildcard port; majortomo's close() disconnects by this URL.
        self._bind_url = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        print("ENDPOINT " + self._bind_url, flush=True)

    def _handle_worker_ready(self, worker_id, service):
        super()._handle_worker_ready(worker_id, service)
        self.counts["ready"] += 1

    def _handle_client_message(self, message):
        super()._handle_client_message(message)
        self.counts["requests"] += 1

    def _handle_worker_partial(self, worker_id, client_id, body):
        super()._handle_worker_partial(worker_id, client_id, body)
        self.counts["partials"] += 1

    def _handle_worker_final(self, worker_id, client_id, body):
        try:
            super()._handle_worker_final(worker_id, client_id, body)
        finally:
            # majortomo forwards the FINAL before it may raise StateError (an unknown worker).
            self.counts["replies"] += 1
            if self.stop_after and self.counts["replies"] >= self.stop_after:
                self.stop()

    def _handle_worker_disconnect(self, worker_id):
        super()._handle_worker_disconnect(worker_id)
        self.counts["disconnects"] += 1


def broker(args):
    log = setup_logging(args.verbose)
    context = zmq.Context()
    interval = args.heartbeat_interval
    timeout = args.heartbeat_timeout if args.heartbeat_timeout is not None else mdp_protocol.DEFAULT_HEARTBEAT_TIMEOUT
    mdp = CountingBroker(args.count, bind=args.bind, heartbeat_interval=interval, heartbeat_timeout=timeout,
                         busy_worker_timeout=args.busy_worker_timeout, zmq_context=context)
    signals = []

    def on_signal(number, _frame):
        signals.append(number)
        mdp.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        mdp.run()
    except zmq.ZMQError as exc:
        report(False, error="broker: %s" % exc, **mdp.counts)
    context.term()  # flushes, within the 1 s linger
    stats = dict(mdp.counts,
                 heartbeats_sent=log.count("Sending heartbeat to worker: %d"),
                 heartbeats_heard=log.count("Got HEARTBEAT from worker: %d"),
                 workers_expired=log.count("Worker %d timed out after %0.2f sec, purging"),
                 failures=log.count("Message handling failed"),
                 warnings=log.warnings, signal=signals[0] if signals else None)
    report(True, **stats)


def client(args):
    setup_logging(args.verbose)
    context = zmq.Context()
    mdp = majortomo.Client(args.connect, zmq_context=context)
    mdp.connect()
    print("ENDPOINT " + args.connect, flush=True)
    # majortomo treats a timeout of 0 (or None) as "wait for ever".
    timeout = args.timeout if args.timeout > 0 else None
    replies = []
    for i in range(args.count):
        mdp.send(args.service, b"request %d" % i)
        parts = []
        try:
            for part in mdp.recv_all(timeout=timeout):
                parts.append([f.decode(errors="replace") for f in part])
        except mdp_error.Timeout as exc:
            report(False, error="no reply to request %d (%s: %s)" % (i, type(exc).__name__, exc),
                   parts=parts, replies=replies)
        except mdp_error.Error as exc:
            report(False, error="request %d: %s: %s" % (i, type(exc).__name__, exc), parts=parts, replies=replies)
        replies.append({"partials": parts[:-1], "final": parts[-1]})
    mdp.close()
    report(True, replies=replies)


class Deadline(Exception):
    pass


def worker(args):
    log = setup_logging(args.verbose)
    context = zmq.Context()
    kwargs = {}
    if args.heartbeat_interval is not None:
        kwargs["heartbeat_interval"] = args.heartbeat_interval
    if args.heartbeat_timeout is not None:
        kwargs["heartbeat_timeout"] = args.heartbeat_timeout
    mdp = majortomo.Worker(args.connect, args.service, zmq_context=context, **kwargs)

    def on_alarm(_number, _frame):
        raise Deadline()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, args.timeout)
    served = 0

    def stats():
        return {"served": served,
                "heartbeats_sent": log.count("Sending HEARTBEAT to broker"),
                "heartbeats_heard": log.count("Got heartbeat message from broker"),
                "reconnects": log.count("Got no heartbeat in %d sec, disconnecting and reconnecting socket")}

    try:
        mdp.connect()  # sends READY
        print("ENDPOINT " + args.connect, flush=True)
        while served < args.count:
            client_id, request = mdp.wait_for_request()
            for k in range(args.partials):
                mdp.send_reply_partial(client_id, [b"partial %d" % k])
            mdp.send_reply_final(client_id, [b"python"] + request)
            served += 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        mdp.close()  # sends DISCONNECT
    except Deadline:
        report(False, error="timed out", **stats())
    except mdp_error.Disconnected as exc:
        report(False, error="the broker said DISCONNECT (%s)" % exc, **stats())
    except mdp_error.Error as exc:
        report(False, error="%s: %s" % (type(exc).__name__, exc), **stats())
    context.term()  # flushes DISCONNECT, within majortomo's 2.5 s linger
    report(True, **stats())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["broker", "client", "worker"])
    parser.add_argument("--bind", help="broker: endpoint to bind")
    parser.add_argument("--connect", help="client, worker: the broker's endpoint")
    parser.add_argument("--service")
    parser.add_argument("--count", type=int, default=0,
                        help="client/worker: requests (default 1); broker: stop after N FINALs (0: until killed)")
    parser.add_argument("--partials", type=int, default=0)
    parser.add_argument("--heartbeat-interval", type=float, default=None,
                        help="seconds (majortomo's default: %s)" % mdp_protocol.DEFAULT_HEARTBEAT_INTERVAL)
    parser.add_argument("--heartbeat-timeout", type=float, default=None,
                        help="seconds (majortomo's default: %s)" % mdp_protocol.DEFAULT_HEARTBEAT_TIMEOUT)
    parser.add_argument("--busy-worker-timeout", type=float, default=mdp_protocol.DEFAULT_BUSY_WORKER_TIMEOUT)
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="client: per reply part; worker: for the whole run (seconds)")
    parser.add_argument("--verbose", action="store_true", help="majortomo's debug log on stderr")
    args = parser.parse_args()
    if args.mode == "broker":
        if not args.bind:
            parser.error("broker needs --bind")
        if args.heartbeat_interval is None:
            args.heartbeat_interval = mdp_protocol.DEFAULT_HEARTBEAT_INTERVAL
    else:
        if not args.connect or not args.service:
            parser.error("%s needs --connect and --service" % args.mode)
        if args.count <= 0:
            args.count = 1
    {"broker": broker, "client": client, "worker": worker}[args.mode](args)


if __name__ == "__main__":
    main()
