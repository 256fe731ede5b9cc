def orders_for(cursor, customer_id):
    query = "SELECT * FROM orders WHERE customer_id = %s"
    cursor.execute(query, (customer_id,))
    return cursor.fetchall()
