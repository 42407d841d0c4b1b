"""Transport: the Dramatiq broker, the actors (which take ids only) and job-change notifications.

PostgreSQL holds the truth; everything here may be lost (a flushed Redis) and only delays work.
"""
