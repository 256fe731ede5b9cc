def delete_items(conn, ids):
    marks = ",".join("?" for _ in ids)
    conn.execute(f"DELETE FROM items WHERE id IN ({marks})", ids)
