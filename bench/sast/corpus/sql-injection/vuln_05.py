def rename(conn, table, old, new):
    conn.execute("UPDATE %s SET name = '%s' WHERE name = '%s'" % (table, new, old))
