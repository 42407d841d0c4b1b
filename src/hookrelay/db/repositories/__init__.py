"""SQL for each table. Every status write is guarded by the statuses it may leave (rule 2):
a function returns False or None when zero rows matched, which means another writer won."""
