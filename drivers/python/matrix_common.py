"""Helpers shared by pg_matrix.py and mysql_matrix.py: the cell runner and value checks.

Each cell is a method ``cell_<name>`` on a driver object.  It returns a short
detail string when the cell passes, raises NA(reason) when the driver has no
such feature, and raises anything else when it fails.
"""
import argparse
import datetime as dt
import json
import math
import os
import struct
import sys
import threading
import time
import traceback
from decimal import Decimal

CELL_TIMEOUT = 30.0


class NA(Exception):
    """The driver has no such feature: the cell reports "n/a"."""


class Mismatch(Exception):
    """A value came back wrong."""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def parse_args(drivers, with_dialect):
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True, choices=sorted(drivers))
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True, type=int)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", default="")
    ap.add_argument("--dbname", required=True)
    if with_dialect:
        ap.add_argument("--dialect", default="postgres", choices=["postgres", "sqlite"])
    return ap.parse_args()


def short(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(e):
    return short(f"{type(e).__name__}: {str(e) or repr(e)}")


def run_cell(fn, timeout=CELL_TIMEOUT):
    """Run fn() in a daemon thread; a hang past `timeout` becomes a failure."""
    out = {}

    def target():
        try:
            out["r"] = ("ok", fn() or "")
        except NA as e:
            out["r"] = ("n/a", str(e))
        except Exception as e:  # noqa: BLE001 - every failure is reported
            log(f"--- {getattr(fn, '__name__', fn)}:\n{traceback.format_exc()}")
            out["r"] = ("fail", describe(e))

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        return "fail", f"timeout: cell still running after {timeout:.0f} s"
    return out["r"]


def run_matrix(driver_name, driver, cells):
    for cell in cells:
        t0 = time.monotonic()
        status, detail = run_cell(getattr(driver, "cell_" + cell))
        log(f"{driver_name} {cell}: {status} in {time.monotonic() - t0:.2f} s")
        print(json.dumps({"driver": driver_name, "cell": cell, "status": status,
                          "detail": short(detail)}), flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # do not wait for threads left hanging by timed-out cells


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def same(got, want, float4=False):
    """Equal value AND the expected Python type."""
    if isinstance(got, (memoryview, bytearray)):
        got = bytes(got)
    if want is None:
        return got is None
    if isinstance(want, float):
        if not isinstance(got, float):
            return False
        if math.isnan(want):
            return math.isnan(got)
        return f32(got) == f32(want) if float4 else got == want
    if isinstance(want, Decimal):
        if not isinstance(got, Decimal):
            return False
        return got.is_nan() if want.is_nan() else got == want
    if isinstance(want, bool):
        return isinstance(got, bool) and got == want
    if isinstance(want, int):
        return isinstance(got, int) and not isinstance(got, bool) and got == want
    if isinstance(want, dt.datetime):
        return (isinstance(got, dt.datetime) and (got.tzinfo is None) == (want.tzinfo is None)
                and got == want)
    if isinstance(want, dt.date):
        return type(got) is dt.date and got == want
    if isinstance(want, list):
        return (isinstance(got, list) and len(got) == len(want)
                and all(same(g, w, float4) for g, w in zip(got, want)))
    return isinstance(got, type(want)) and got == want


def check(what, got, want, float4=False):
    if not same(got, want, float4):
        g = bytes(got) if isinstance(got, memoryview) else got
        raise Mismatch(f"{what}: got {g!r} ({type(got).__name__}) want {want!r} "
                       f"({type(want).__name__})")


def check_pages(sizes, total, page, first=None):
    """Every page full except the last; `first` is an optional smaller first page."""
    if sum(sizes) != total:
        raise Mismatch(f"rows: got {sum(sizes)} want {total}")
    body = sizes[1:] if first is not None else sizes
    if first is not None and sizes[0] != first:
        raise Mismatch(f"first page: got {sizes[0]} rows want {first}")
    for n, s in enumerate(body[:-1]):
        if s != page:
            raise Mismatch(f"page {n}: got {s} rows want {page}")
    if body and not 0 < body[-1] <= page:
        raise Mismatch(f"last page: got {body[-1]} rows")


class DbapiConn:
    """Wraps a DB-API connection (in autocommit mode) as exec/rows/close."""

    def __init__(self, raw):
        self.raw = raw

    def exec(self, sql, params=()):
        """Runs one statement; returns the cursor's rowcount (rows changed by DML)."""
        cur = self.raw.cursor()
        try:
            cur.execute(sql, params or None)
            return cur.rowcount
        finally:
            cur.close()

    def rows(self, sql, params=()):
        cur = self.raw.cursor()
        try:
            cur.execute(sql, params or None)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
        finally:
            cur.close()

    def close(self):
        self.raw.close()
