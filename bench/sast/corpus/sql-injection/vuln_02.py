def orders_for(cursor, customer_id):
    query = f"SELECT * FROM orders WHERE customer_id = {customer_id}"
    cursor.execute(query)
    return cursor.fetchall()
