class Repo:
    def __init__(self, db):
        self.db = db

    def count(self, where):
        stmt = "SELECT count(*) FROM events WHERE " + where
        return self.db.execute(stmt).fetchone()[0]
