"""Operations tools behind ``ddbt backfill|redrive|replay|generate-event|tail``.

Pure functions over injected boto3 clients; ``ddbt/cli.py`` only wires arguments."""
