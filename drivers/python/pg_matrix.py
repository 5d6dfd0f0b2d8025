#!/usr/bin/env python3
"""PostgreSQL driver matrix: one JSON line per cell on stdout, nothing else (see drivers/README.md).

python pg_matrix.py --driver psycopg|psycopg2|asyncpg|sqlalchemy --host H --port P
                    --user U --password W --dbname D [--dialect postgres|sqlite]
"""
import importlib

from matrix_common import parse_args, run_matrix
from pg_common import CELLS

# --driver -> (module, class); imported only when chosen, so a missing driver fails alone.
DRIVERS = {"psycopg": ("pg_psycopg", "Psycopg"), "psycopg2": ("pg_psycopg", "Psycopg2"),
           "asyncpg": ("pg_asyncpg", "Asyncpg"), "sqlalchemy": ("pg_sqlalchemy", "Sqlalchemy")}

if __name__ == "__main__":
    args = parse_args(DRIVERS, with_dialect=True)
    module, cls = DRIVERS[args.driver]
    driver = getattr(importlib.import_module(module), cls)(args)
    run_matrix(args.driver, driver, CELLS)
