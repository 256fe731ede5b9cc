def delete_items(conn, ids):
    sql = "DELETE FROM items WHERE id IN (" + ",".join(ids) + ")"
    conn.execute(sql)
