"""A realistic service log of any size, written as a stream, with needles at known lines.

Lines mix the shapes real logs have (web requests, a JVM service, sshd, HDFS, the kernel,
JSON events, a stack trace now and then), with timestamps that advance, and ids, addresses
and durations that rarely repeat: a log whose every token repeats would index far smaller
than a real one and flatter the library's size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

_BATCH_LINES = 4096
_NEEDLE_COUNT = 5
_START = datetime(2026, 3, 1, tzinfo=timezone.utc)

_LEVELS = ("INFO",) * 14 + ("DEBUG",) * 4 + ("WARN",) * 2 + ("ERROR",)
_METHODS = ("GET",) * 6 + ("POST",) * 2 + ("PUT", "DELETE")
_ROUTES = (
    "/api/v2/orders/{n}",
    "/api/v2/orders/{n}/items",
    "/api/v2/customers/{n}",
    "/api/v2/invoices/{n}/pdf",
    "/api/v1/search?q={word}&page={small}",
    "/static/js/app.{hex6}.js",
    "/healthz",
    "/api/v2/cart/{n}/checkout",
    "/login",
    "/api/v2/shipments/{n}/track",
)
_STATUS = (200,) * 12 + (201, 204, 301, 304, 400, 401, 403, 404, 404, 409, 500, 502, 503)
_CLASSES = (
    "c.a.orders.OrderService",
    "c.a.orders.OrderController",
    "c.a.billing.InvoiceJob",
    "c.a.billing.PaymentGateway",
    "c.a.auth.TokenFilter",
    "c.a.search.IndexWriter",
    "c.a.ship.CarrierClient",
    "o.h.engine.jdbc.spi.SqlExceptionHelper",
    "c.z.h.pool.HikariPool",
    "o.a.k.clients.consumer.KafkaConsumer",
)
_SERVICE_MESSAGES = (
    "order {n} accepted for customer {cust} total={money} EUR items={small}",
    "invoice {n} rendered in {ms}ms ({kb} KB)",
    "payment {hex12} authorised by {bank} amount={money}",
    "payment {hex12} declined by {bank}: insufficient funds",
    "token for user {user} refreshed, expires in {small}h",
    "rejected token for user {user}: signature mismatch",
    "indexed {small} documents into shard {tiny} in {ms}ms",
    "carrier {carrier} replied {status} for shipment {n} after {ms}ms",
    "SQL Error: 0, SQLState: 08006 connection to db-{tiny}.internal lost",
    "HikariPool-{tiny} - connection is not available, request timed out after {ms}ms",
    "consumer group {word}-workers rebalanced, {small} partitions assigned",
    "cache miss for key {word}:{n} (ttl {small}s)",
    "retrying call to {carrier} ({tiny}/5) after {ms}ms backoff",
)
_WORDS = (
    "laptop",
    "monitor",
    "keyboard",
    "invoice",
    "refund",
    "shipping",
    "warehouse",
    "coupon",
    "gift",
    "battery",
    "charger",
    "headphones",
    "camera",
    "printer",
    "router",
    "cable",
    "tablet",
    "speaker",
)
_BANKS = ("ING", "BNP", "HSBC", "Rabobank", "Santander", "Barclays", "DeutscheBank")
_CARRIERS = ("dhl", "ups", "fedex", "postnl", "dpd", "gls")
_USERS = ("admin", "root", "oracle", "test", "guest", "postgres", "ubuntu", "deploy", "git")
_KERNEL = (
    "eth{tiny}: link up, 1000Mbps, full-duplex",
    "EXT4-fs (sda{tiny}): mounted filesystem with ordered data mode",
    "Out of memory: Killed process {pid} (java) total-vm:{kb}kB",
    "TCP: request_sock_TCP: Possible SYN flooding on port {port}. Sending cookies.",
    "usb 1-{tiny}: new high-speed USB device number {small} using xhci_hcd",
)
_TRACE = (
    "java.lang.IllegalStateException: order {n} is already {word}",
    "\tat c.a.orders.OrderService.transition(OrderService.java:{small})",
    "\tat c.a.orders.OrderController.update(OrderController.java:{small})",
    "\tat jdk.internal.reflect.GeneratedMethodAccessor{small}.invoke(Unknown Source)",
    "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)",
)


@dataclass(frozen=True)
class Needle:
    """A line planted in the log: its marker word, its 1-based line number and text."""

    marker: str
    line: int
    text: str


@dataclass(frozen=True)
class GeneratedLog:
    """A log written to disk: its size in bytes, its lines and the needles in it."""

    path: Path
    size: int
    lines: int
    needles: list[Needle]


class _Fields:
    """Random field values, drawn from one generator so a seed gives the same log."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __getitem__(self, name: str) -> str:
        r = self.rng
        match name:
            case "n":
                return str(r.randrange(10_000, 99_999_999))
            case "small":
                return str(r.randrange(1, 400))
            case "tiny":
                return str(r.randrange(0, 9))
            case "ms":
                return str(int(r.expovariate(1 / 40)) + 1)
            case "kb":
                return str(r.randrange(8, 90_000))
            case "money":
                return f"{r.randrange(1, 250_000) / 100:.2f}"
            case "hex6":
                return f"{r.getrandbits(24):06x}"
            case "hex12":
                return f"{r.getrandbits(48):012x}"
            case "cust" | "user":
                return f"u{r.randrange(1, 2_000_000)}"
            case "word":
                return r.choice(_WORDS)
            case "bank":
                return r.choice(_BANKS)
            case "carrier":
                return r.choice(_CARRIERS)
            case "status":
                return str(r.choice(_STATUS))
            case "pid":
                return str(r.randrange(300, 65_000))
            case "port":
                return str(r.choice((22, 80, 443, 5432, 8080, 9092)))
            case "ip":
                return f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"
        raise KeyError(name)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _line(rng: random.Random, fields: _Fields, when: datetime) -> str:
    """One log line (or a few, for a stack trace) stamped ``when``."""
    ts = _stamp(when)
    shape = rng.random()
    if shape < 0.38:
        route = rng.choice(_ROUTES).format_map(fields)
        return (
            f'{fields["ip"]} - - [{ts}] "{rng.choice(_METHODS)} {route} HTTP/1.1" '
            f"{rng.choice(_STATUS)} {fields['kb']} {fields['ms']}ms req={fields['hex12']}"
        )
    if shape < 0.78:
        thread = f"http-nio-8080-exec-{rng.randrange(1, 200)}"
        message = rng.choice(_SERVICE_MESSAGES).format_map(fields)
        return f"{ts} {rng.choice(_LEVELS):5} [{thread}] {rng.choice(_CLASSES)} - {message}"
    if shape < 0.86:
        user = rng.choice(_USERS)
        return (
            f"{ts} bastion-{fields['tiny']} sshd[{fields['pid']}]: Failed password for invalid "
            f"user {user} from {fields['ip']} port {rng.randrange(1024, 65535)} ssh2"
        )
    if shape < 0.93:
        return (
            f"{ts} INFO dfs.DataNode$PacketResponder: Received block "
            f"blk_{rng.getrandbits(62)} of size {fields['kb']}000 from /{fields['ip']}"
        )
    if shape < 0.97:
        return f"{ts} node-{fields['tiny']} kernel: " + rng.choice(_KERNEL).format_map(fields)
    if shape < 0.995:
        return (
            f'{{"ts":"{ts}","level":"info","event":"cart.updated","cart":{fields["n"]},'
            f'"user":"{fields["user"]}","sku":"{fields["word"]}-{fields["hex6"]}",'
            f'"qty":{fields["tiny"]}}}'
        )
    trace = "\n".join(t.format_map(fields) for t in _TRACE[: rng.randrange(2, len(_TRACE) + 1)])
    return f"{ts} ERROR [http-nio-8080-exec-{fields['small']}] c.a.web.ErrorHandler - {trace}"


def _needle_text(marker: str, n: int) -> str:
    """The planted line's message: a marker word no generated line contains."""
    return f"audit vault code {marker} issued to operator number {n}"


def write_log(path: Path, size_bytes: int, seed: int = 18) -> GeneratedLog:
    """Write a log of at least ``size_bytes`` to ``path``, a batch of lines at a time (so
    memory stays small whatever the size), with needles spread from its start to its end."""
    rng = random.Random(seed)
    fields = _Fields(rng)
    # Needles at fixed fractions of the size: near the start, inside, and near the end.
    places = [int(size_bytes * f) for f in (0.001, 0.27, 0.5, 0.73, 0.999)][:_NEEDLE_COUNT]
    needles: list[Needle] = []
    when = _START
    written = lines = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        while written < size_bytes:
            batch = []
            for _ in range(_BATCH_LINES):
                when += timedelta(microseconds=rng.randrange(100, 20_000))
                batch.append(_line(rng, fields, when))
            while places and written + sum(len(x) + 1 for x in batch) >= places[0]:
                places.pop(0)
                marker = f"NEEDLE{len(needles):02d}x{rng.getrandbits(32):08x}"
                text = f"{_stamp(when)} WARN  [audit] vault - " + _needle_text(marker, seed)
                at = rng.randrange(len(batch))
                line = lines + 1 + sum(x.count("\n") + 1 for x in batch[:at])
                batch.insert(at, text)
                needles.append(Needle(marker, line, text))
            block = "\n".join(batch) + "\n"
            handle.write(block)
            written += len(block.encode("utf-8"))
            lines += block.count("\n")
    return GeneratedLog(path, written, lines, needles)
