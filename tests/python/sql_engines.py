#!/usr/bin/env python3
"""Runs the DDL `otelvault schema` prints, then the named queries, on a real
SQL engine over an archive's compacted tier, and prints what each query
returned as JSON on stdout: {"query": [[value, ...], ...], ...}.

Usage: sql_engines.py spark|duckdb DDL_FILE QUERIES_DIR PARAMETERS_JSON

PARAMETERS_JSON maps a query's name (its file name without .sql) to the
values of its `?` parameters, in order. Queries run exactly as the files
hold them (the SQL Athena runs), with the parameters bound by the engine.
Timestamps are printed as unix microseconds, maps as objects.
"""

import datetime
import json
import os
import sys
import tempfile

ENGINE, DDL_FILE, QUERIES_DIR, PARAMETERS = sys.argv[1:5]
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def statements(text):
    """The statements of a script: each ends with `;` at a line's end."""
    out, current = [], []
    for line in text.splitlines():
        if line.startswith("--") and not current:
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if "".join(current).strip():
        out.append("\n".join(current))
    return out


def plain(value):
    """A value as JSON: timestamps in unix microseconds, maps as objects."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:  # Spark: the session's time zone, UTC
            value = value.replace(tzinfo=datetime.timezone.utc)
        return (value - EPOCH) // datetime.timedelta(microseconds=1)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def spark_engine(scratch):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("otelvault-sql-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.warehouse.dir", os.path.join(scratch, "warehouse"))
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={os.path.join(scratch, 'metastore')};create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={scratch}")
        .enableHiveSupport()
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")

    def execute(sql, params=None):
        return [list(row) for row in spark.sql(sql, args=params).collect()]

    return execute, spark.stop


def duckdb_engine(_scratch):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def execute(sql, params=None):
        return [list(row) for row in con.execute(sql, params or []).fetchall()]

    return execute, con.close


def main():
    with open(DDL_FILE) as f:
        ddl = f.read()
    with open(PARAMETERS) as f:
        parameters = json.load(f)
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # Derby and Spark write beside the working directory
        execute, stop = {"spark": spark_engine, "duckdb": duckdb_engine}[ENGINE](scratch)
        try:
            for statement in statements(ddl):
                execute(statement)
            results = {}
            for name, params in sorted(parameters.items()):
                with open(os.path.join(QUERIES_DIR, name + ".sql")) as f:
                    query = f.read()
                rows = execute(query, params)
                results[name] = plain(rows)
        finally:
            stop()
    json.dump(results, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
