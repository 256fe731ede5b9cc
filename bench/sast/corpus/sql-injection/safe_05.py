TABLE = "audit_log"


def recent(conn):
    return conn.execute(f"SELECT * FROM {TABLE} ORDER BY ts DESC LIMIT 10").fetchall()
