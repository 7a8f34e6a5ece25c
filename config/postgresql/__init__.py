"""Django's PostgreSQL backend with one change (see compiler.py); ENGINE "config.postgresql"."""
