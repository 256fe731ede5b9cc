from sqlalchemy import text


def by_status(session, status):
    return session.execute(text("SELECT * FROM jobs WHERE status = :s"), {"s": status}).all()
