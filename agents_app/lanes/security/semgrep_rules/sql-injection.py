import sqlite3

import pandas
from django.db import connection
from sqlalchemy import text

TABLE = "invoices"


def by_customer(conn: sqlite3.Connection, customer: str):
    cur = conn.cursor()
    # ruleid: sql-injection
    cur.execute("SELECT * FROM invoices WHERE customer = '%s'" % customer)
    # ruleid: sql-injection
    cur.execute(f"SELECT * FROM invoices WHERE customer = '{customer}'")
    query = "DELETE FROM invoices WHERE id = " + str(customer)
    # ruleid: sql-injection
    conn.execute(query)
    # ruleid: sql-injection
    cur.executemany("UPDATE t SET a = {}".format(customer), [])
    # ok: sql-injection
    cur.execute("SELECT * FROM invoices WHERE customer = ?", (customer,))
    # ok: sql-injection
    cur.execute("SELECT * FROM %s" % TABLE)
    # ok: sql-injection
    cur.execute(f"SELECT count(*) FROM {TABLE}")
    # ok: sql-injection
    cur.execute("SELECT " + "1")
    # ok: sql-injection
    cur.execute("SELECT * FROM t WHERE a = %s", [customer])


def orm(model, name):
    # ruleid: sql-injection
    model.objects.raw(f"SELECT * FROM app_user WHERE name = '{name}'")
    # ruleid: sql-injection
    pandas.read_sql("SELECT * FROM t WHERE x = '%s'" % name, connection)
    # ruleid: sql-injection
    return text("SELECT * FROM t WHERE x = " + name)


def safe_orm(model, name):
    # ok: sql-injection
    model.objects.raw("SELECT * FROM app_user WHERE name = %s", [name])
    # ok: sql-injection
    return text("SELECT * FROM t WHERE x = :x").bindparams(x=name)
